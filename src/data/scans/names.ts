/**
 * Names of scanner domains and adapters. Any name a user chooses (`MyPrisma`) or a scanner key read
 * from sidecars (`Siemens_Prisma_3T`) ends up in file names (`adapters/MyPrisma-convlora.safetensors`),
 * so names are restricted to characters that are safe in a file name on every system: letters, digits,
 * '.', '_' and '-', starting with a letter or digit. CC359's six domain names are such names.
 */
import { ConvLoraError } from '../../errors.js';

/** At most 128 characters: a manufacturer, a model name, a field strength and a sequence name fit. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isDomainName(name: unknown): name is string {
  return typeof name === 'string' && NAME_RE.test(name);
}

/** A domain (scanner) name; E_INVALID_ARG naming `what` and the value when it is not a safe file name. */
export function checkDomainName(name: unknown, what = 'domain'): string {
  if (!isDomainName(name)) {
    throw new ConvLoraError('E_INVALID_ARG',
      `Expected a name of letters, digits, '.', '_' or '-' starting with a letter or digit (at most 128 characters) for \`${what}\` but received ${JSON.stringify(name)}`);
  }
  return name;
}

/**
 * One part of a scanner key from free text (a manufacturer, a model name): each run of other
 * characters becomes '-', so that '_' keeps separating the parts ("Prisma_fit" -> "Prisma-fit",
 * "DISCOVERY MR750" -> "DISCOVERY-MR750"). Empty when the text has no letter or digit.
 */
export function keyPart(text: string): string {
  return text.trim().replace(/[^A-Za-z0-9.-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '');
}
