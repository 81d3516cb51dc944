import { runScaleSim } from '../src/sim/index.js';
import { EpisodeIndex } from '../src/sim/index.js';
const eps: any[] = [];
const alerts: any[] = [];
for await (const ev of runScaleSim({ devices: Number(process.argv[2] ?? 2000), days: Number(process.argv[3] ?? 0.5), attacksPerKind: 2, seed: 11 })) {
  if (ev.type === 'alert' && ev.episode === null) console.log(ev.alert.key, ev.alert.at, ev.alert.rule, ev.alert.summary.slice(0, 220), JSON.stringify(ev.alert.baseline));
}
