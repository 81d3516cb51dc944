export { Inventory, rowToDevice, parseDeviceInput, type CertificateRevoker, type InventoryOptions } from './inventory.js';
export { parseImport, detectFormat, parseCsv, type ImportFormat } from './import-file.js';
export * from './model.js';
