/**
 * netd: the nftables enforcement agent (ARCHITECTURE.md, "PEP, network"). Other components use only
 * what is exported here.
 */
export {
  Netd, defaultIsRelevant,
  type NetdOptions, type NetdStatus, type NetdLogger, type NetdChange, type SnapshotProvider, type ChangeSubscription, type ReconcileResult,
} from './netd.js';
export { runNetd, changeFeedSubscription, type RunNetdOptions, type RunningNetd, type ChangeEmitter } from './run-netd.js';
export { createNftRunner, nftCommandFor, type NftRunner, type NftRunnerOptions, type NftResult } from './nft-runner.js';
export { parseNftCounters, type NftCounters, type NftRuleCounter } from './nft-counters.js';
