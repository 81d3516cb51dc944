/**
 * sim: the fleet simulator behind `zeta sim` — scale mode (a simulated fleet fed straight into the
 * detectors) and full mode (real devices: API, EST, gateway, MQTT), with labelled attacks and the
 * scoring shared with bench/sim.ts. See README.md.
 */
export { runScaleSim, zeekJsonLine, signalLine, episodeLine, SCALE_LIMITS, type ScaleSimOptions, type ScaleSummary, type ScaleProgress } from './scale.js';
export { runFullSim, FULL_ATTACKS, FULL_ATTACK_KINDS, type FullAttack, type FullSimOptions, type FullSummary, type FullProgress, type FullEpisodeResult } from './full.js';
export { evaluate, formatEvaluation, EpisodeIndex, HistogramAuc, MATCH_GRACE_MS, DETECT_WITHIN_MS, type Evaluation, type KindFigures } from './evaluate.js';
