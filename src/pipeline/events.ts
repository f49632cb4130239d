/** Progress events from the pipeline's stages (the CLI draws bars from them). */
export type PipelineEvent =
  | { type: 'stage'; stage: string; message: string }
  | { type: 'epoch-start'; stage: string; epoch: number; epochs: number; steps: number }
  | { type: 'step'; stage: string; epoch: number; step: number; steps: number; loss: number }
  | { type: 'epoch-end'; stage: string; epoch: number; epochs: number; loss: number; metric?: number; metricName?: string; best?: boolean; seconds: number };

export type Reporter = (e: PipelineEvent) => void;
export const silent: Reporter = () => undefined;
