import { ConvLoraError } from '../../errors.js';
import { UdasHead } from '../../models/esh.js';
import { createHead } from '../../pipeline/models.js';
import { architectures, DEFAULT_ARCH, modelSpec } from '../../models/zoo.js';
import { applyPlacement, checkBlocks, checkMethod, formatSummary, paramSummary, planPlacement } from '../../lora/placement.js';
import { LORA_OPTIONS, loraConfig } from '../../lora/convlora.js';
import { stringOpt, numberOpt, tableOpt, type Command } from '../command.js';

export const summaryCommand: Command = {
  name: 'summary',
  summary: 'Print total and trainable parameters of a method (checks the paper\'s counts)',
  usage: `convlora summary [--arch ${architectures().join('|')}] --method udas|udas-convlora|convlora [--blocks 1|1-2|1-3|all] [--rank ${LORA_OPTIONS.rank.default}] [--filters 16] [--json]`,
  options: { arch: { type: 'string' }, method: { type: 'string' }, blocks: { type: 'string' }, rank: { type: 'string' }, filters: { type: 'string' }, json: { type: 'boolean' } },
  async run(values, _pos, io) {
    const usage = (e: unknown): never => { throw new ConvLoraError('E_USAGE', (e as Error).message); };
    let method;
    let blocks;
    let spec;
    try {
      try { spec = modelSpec(stringOpt(values, 'arch') ?? DEFAULT_ARCH); } catch (e) { throw new Error((e as Error).message.replace('`arch`', '--arch')); }
      method = checkMethod(stringOpt(values, 'method') ?? 'convlora');
      blocks = checkBlocks(stringOpt(values, 'blocks') ?? 'all');
    } catch (e) { return usage(e); }
    const rank = tableOpt(values, 'rank', LORA_OPTIONS.rank);
    const filters = numberOpt(values, 'filters', spec.defaultFilters, { integer: true, min: 1 });
    const model = spec.create({ filters });
    const head = createHead(method === 'udas' || method === 'udas-convlora' ? 'udas' : 'esh', filters, 'cpu', spec.arch);
    try {
      const placement = planPlacement(model, method, blocks);
      applyPlacement(model, placement, 'default', loraConfig({ rank }));
      const s = paramSummary(model);
      const out = {
        arch: spec.arch, method, blocks: method === 'convlora' ? blocks : method === 'udas-convlora' ? '1' : null, rank,
        totalParams: s.totalParams, trainableParams: s.trainableParams, trainablePercent: Number(s.trainablePercent.toFixed(4)),
        baseParams: s.totalParams - placement.loraTargets.reduce((n, p) => n + model.getModule(p).ownParameters().filter(([k]) => k.startsWith('lora_')).reduce((a, [, t]) => a + t.size, 0), 0),
        headParams: head.countParameters(), headKind: head instanceof UdasHead ? 'udas (reads init_path)' : 'esh (reads the encoder output)',
        loraLayers: placement.loraTargets.length,
      };
      if (values.json === true) io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      else {
        io.stdout.write(`${formatSummary(s)}\n`);
        io.stdout.write(`base ${spec.arch} params: ${out.baseParams.toLocaleString('en-US')} || ${out.headKind} head params: ${out.headParams.toLocaleString('en-US')} (frozen during adaptation) || LoRA layers: ${out.loraLayers}\n`);
      }
      return 0;
    } finally {
      model.dispose();
      head.dispose();
    }
  },
};
