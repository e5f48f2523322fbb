import { loadData, type DatasetName, type LoadedData } from '../data.js';
import type { Progress } from '../progress.js';

/** Load the run's data, saying what was read from where (stderr). */
export async function loadRunData(
  options: { dataset: DatasetName; dataDir: string | null; limitTrain: number | null; limitTest: number | null },
  progress: Progress,
): Promise<LoadedData> {
  if (options.dataset === 'digits' && options.dataDir) progress.note('note: --data-dir is not used by --dataset digits (embedded data)');
  const data = await loadData({
    dataset: options.dataset,
    dataDir: options.dataDir ?? undefined,
    limitTrain: options.limitTrain ?? undefined,
    limitTest: options.limitTest ?? undefined,
  });
  progress.note(`data: ${data.name}, ${data.train.count} training and ${data.test.count} test samples from ${data.source}`);
  return data;
}
