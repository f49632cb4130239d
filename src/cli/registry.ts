import type { Command } from './command.js';
import { demoCommand } from './commands/demo.js';
import { summaryCommand } from './commands/summary.js';
import { phantomCommand } from './commands/phantom.js';
import { evaluateCommand } from './commands/evaluate.js';

/** All CLI commands, in the order `convlora --help` lists them. */
export const commands: Command[] = [demoCommand, summaryCommand, phantomCommand, evaluateCommand];
