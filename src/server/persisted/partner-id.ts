/** A partner id: a short lower-case name (it becomes a metrics label). Checked by the partners file and `npm run partner:key`. */
export const PARTNER_ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;
