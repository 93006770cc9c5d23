/** An alphanumeric sender ID (usual in France): at most 11 letters, digits and spaces, one letter at least. */
export const ALPHANUMERIC_SENDER_ID = /^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$/;

/** A short code: 3 to 8 digits. */
export const SHORT_CODE = /^\d{3,8}$/;

/**
 * A number written in E.164 (`+`, a country code, at most 15 digits), whether or not the phone library knows its
 * range: Twilio hands an inbound sender's number in this form.
 */
export const E164_SHAPE = /^\+[1-9]\d{6,14}$/;
