/**
 * The shapes of stored records, for code that shows them but never queries: api/ names these, and
 * imports neither the database module nor kysely (deps:check). db.ts declares them with the schema.
 */
export type { Blob, Headshot, Order, Photo, PhotoStatus, Purpose, Role, User } from './db';
export { PHOTO_STATUSES } from './db';
