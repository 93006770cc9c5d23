/** The notification types offered to API clients. */
export const NOTIFICATION_TYPES = [
  'appointment_confirmed',
  'appointment_reminder',
  'appointment_cancelled',
  'dossier_updated',
  'document_uploaded',
  'message_received',
] as const;

export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

/** Types the service renders for other modules (the appointments module) but does not offer to API clients. */
export const INTERNAL_NOTIFICATION_TYPES = ['appointment_rescheduled'] as const;

export type InternalNotificationType = (typeof INTERNAL_NOTIFICATION_TYPES)[number];

/** Every type SmsTemplateService can render. */
export type RenderableNotificationType = NotificationType | InternalNotificationType;

export const RENDERABLE_NOTIFICATION_TYPES: readonly RenderableNotificationType[] = [...NOTIFICATION_TYPES, ...INTERNAL_NOTIFICATION_TYPES];

export function isRenderableNotificationType(value: unknown): value is RenderableNotificationType {
  return typeof value === 'string' && (RENDERABLE_NOTIFICATION_TYPES as readonly string[]).includes(value);
}
