export { Store, mapStoreError, type Db, type Tx, type Dialect, type StoreOptions } from './db.js';
export type * from './schema.js';
