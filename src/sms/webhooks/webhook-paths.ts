/** Where Twilio reaches this service (below PUBLIC_BASE_URL); the controller's routes are these. */
export const STATUS_CALLBACK_PATH = '/api/sms/webhooks/status';
export const INBOUND_PATH = '/api/sms/webhooks/inbound';
