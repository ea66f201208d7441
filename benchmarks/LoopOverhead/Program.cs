using Trainer.Benchmarks.LoopOverhead;
using Trainer.Core.Data;
using TorchSharp;

// Overhead of BaseTrainer's loop against a plain hand-written TorchSharp loop on the same Fashion CNN
// and the same batches. Rounds alternate (AB, BA, AB, ...) in one process because absolute timings
// drift between runs on a shared machine; only the ratio of alternately measured rounds is meaningful.

BenchOptions options;
try { options = BenchOptions.Parse(args); }
catch (ArgumentException e) { Console.Error.WriteLine(e.Message); return 2; }

FashionMnistData data;
try { data = FashionMnist.Load(options.DataDir); }
catch (DatasetNotFoundException e)
{
    Console.Error.WriteLine($"error (--data-dir): {e.Message}");
    return 1;
}
catch (InvalidDataException e)
{
    Console.Error.WriteLine($"error: the Fashion-MNIST files in '{options.DataDir}' are unreadable: {e.Message}");
    return 1;
}

using (data)
{
    var maxSteps = data.TrainCount / BenchOptions.BatchSize;
    if (options.Steps > maxSteps)
    {
        Console.Error.WriteLine($"error: --steps {options.Steps} needs {options.Steps * BenchOptions.BatchSize} samples; " +
                                $"the train set has {data.TrainCount} (at most {maxSteps} steps of {BenchOptions.BatchSize}).");
        return 2;
    }
    torch.set_num_threads(options.Threads);
    var loadBefore = Report.LoadAverage();
    Console.WriteLine($"loop_overhead: {options.Steps} steps x batch {BenchOptions.BatchSize}, {options.Rounds} pairs, " +
                      $"{torch.get_num_threads()} threads, torch {torch.__version__}, load average {loadBefore}");
    var variants = new Variants(data);
    try
    {
        var warmTrainer = variants.Run(Variant.Trainer, Math.Min(options.WarmupSteps, options.Steps));
        var warmPlain = variants.Run(Variant.Plain, Math.Min(options.WarmupSteps, options.Steps));
        Console.WriteLine($"warm-up (untimed): trainer {warmTrainer.SamplesPerSecond:0.0} samples/s, plain {warmPlain.SamplesPerSecond:0.0} samples/s");

        var pairs = new List<Pair>();
        for (var i = 0; i < options.Rounds; i++)
        {
            var trainerFirst = i % 2 == 0;
            var first = variants.Run(trainerFirst ? Variant.Trainer : Variant.Plain, options.Steps);
            var second = variants.Run(trainerFirst ? Variant.Plain : Variant.Trainer, options.Steps);
            pairs.Add(trainerFirst ? new Pair(i, "AB", first, second) : new Pair(i, "BA", second, first));
        }

        var loadAfter = Report.LoadAverage();
        var peak = Report.PeakRssMiB();
        Console.WriteLine();
        Console.WriteLine(Report.Table(pairs));
        Console.WriteLine();
        Console.WriteLine($"ratio trainer/plain (median of per-pair ratios): {Report.Median(pairs.Select(p => p.Ratio)):0.0000}");
        Console.WriteLine($"peak RSS (VmHWM): {peak:0} MiB; load average before {loadBefore}, after {loadAfter}");
        Console.WriteLine(Report.Json(options, pairs, peak, loadBefore, loadAfter));
        return 0;
    }
    catch (ArgumentException e)
    {
        Console.Error.WriteLine($"error: {e.Message}");
        return 2;
    }
}
