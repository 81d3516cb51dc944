export { Store, mapStoreError, type Db, type Tx, type Dialect, type StoreOptions } from './db.js';
export { ChangeFeed, emitChange, type Change } from './changes.js';
export type * from './schema.js';
