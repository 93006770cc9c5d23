/** An alphanumeric sender ID (usual in France): at most 11 letters, digits and spaces, one letter at least. */
export const ALPHANUMERIC_SENDER_ID = /^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$/;

/** A short code: 3 to 8 digits. */
export const SHORT_CODE = /^\d{3,8}$/;
