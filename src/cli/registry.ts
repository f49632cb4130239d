import type { Command } from './command.js';
import { demoCommand } from './commands/demo.js';
import { summaryCommand } from './commands/summary.js';
import { phantomCommand } from './commands/phantom.js';
import { trainSourceCommand, trainEshCommand } from './commands/train.js';
import { adaptCommand } from './commands/adapt.js';
import { evaluateCommand } from './commands/evaluate.js';
import { segmentCommand } from './commands/segment.js';
import { experimentCommand } from './commands/experiment.js';
import { scannersCommand } from './commands/scanners.js';
import { adaptersCommand } from './commands/adapters.js';
import { exportCommand, mergeCommand } from './commands/export.js';
import { appCommand } from './commands/app.js';
import { launchCommand } from './commands/launch.js';
import { distCheckCommand } from './commands/dist-check.js';

/** All CLI commands, in the order `convlora --help` lists them (pipeline order). */
export const commands: Command[] = [
  demoCommand, phantomCommand, trainSourceCommand, trainEshCommand, scannersCommand, adaptCommand, adaptersCommand, evaluateCommand, segmentCommand,
  mergeCommand, exportCommand, appCommand, experimentCommand, summaryCommand, launchCommand, distCheckCommand,
];
