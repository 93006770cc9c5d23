/** Every action the journal knows. The SMS ones are the brief's own names. */
export enum AuditAction {
  LoginSucceeded = 'login_success',
  LoginFailed = 'login_failure',
  /** A sign-in (or own-password) limit was first gone past in its window: once per key and window, not per refused guess. */
  LoginThrottled = 'login_throttled',
  UserCreated = 'user_created',
  UserUpdated = 'user_updated',
  /** A change only a superadmin may make, refused to another role (403): who tried what, on whom. */
  UserChangeRefused = 'user_change_refused',
  /** A signed-in user refused by a route's roles (403): who tried which route (throttled per user and route). */
  AccessDenied = 'access_denied',
  SendSms = 'send_sms',
  SendNotificationSms = 'send_notification_sms',
  SendBulkSms = 'send_bulk_sms',
  /** A single or notification send asked for later (sendAt) was accepted: who asked for what, and when it leaves. */
  SmsScheduled = 'sms_scheduled',
  /** Someone cancelled an SMS or a batch before it left: the actor is who cancelled (the send's own entry names its sender). */
  SmsCancelled = 'sms_cancelled',
  AppointmentCreated = 'appointment_created',
  AppointmentUpdated = 'appointment_updated',
  AppointmentConfirmed = 'appointment_confirmed',
  AppointmentCancelled = 'appointment_cancelled',
  AppointmentCompleted = 'appointment_completed',
  /** Data retention removed old personal data (RETENTION_DAYS); metadata holds the counts. */
  RetentionPurge = 'retention_purge',
  /** A Twilio webhook refused for a missing or wrong signature (journaled without its payload). */
  SmsWebhookRefused = 'sms_webhook_refused',
  SmsOptOut = 'sms_opt_out',
  SmsOptIn = 'sms_opt_in',
}
