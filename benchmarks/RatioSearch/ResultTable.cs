using System.Globalization;
using System.Text.Json;
using Trainer.Core.Runtime;

namespace Benchmarks.RatioSearch;

/// <summary>What one model contributes to the report besides its rows.</summary>
internal sealed record ModelSummary(string Model, double UnprunedTest, int Groups, double TrainSecondsPerEpoch, double TrialSeconds);

/// <summary>Mean over seeds of one method's rows, with its gaps to the uniform ratio's mean (in points).</summary>
internal sealed record MethodMean(string Model, string Method, int Seeds, double MacsRatio, double HeldOut, double TestBefore, double? TestAfter,
    double Trials, double Seconds, double TrialsPerMinute, double DeltaBefore, double? DeltaAfter);

/// <summary>Prints the rows as a Markdown table per model, then the means over seeds, then one JSON line with everything.</summary>
internal static class ResultTable
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public static List<MethodMean> Means(IReadOnlyList<BenchRow> rows)
    {
        var means = new List<MethodMean>();
        foreach (var model in rows.GroupBy(r => r.Model))
        {
            var uniform = model.Where(r => r.Method == "uniform").ToList();
            double uBefore = uniform.Average(r => r.TestBefore);
            double? uAfter = uniform.All(r => r.TestAfter.HasValue) ? uniform.Average(r => r.TestAfter!.Value) : null;
            foreach (var method in model.GroupBy(r => r.Method))
            {
                var rs = method.ToList();
                double before = rs.Average(r => r.TestBefore);
                double? after = rs.All(r => r.TestAfter.HasValue) ? rs.Average(r => r.TestAfter!.Value) : null;
                double seconds = rs.Average(r => r.Seconds), trials = rs.Average(r => r.Trials);
                means.Add(new MethodMean(model.Key, method.Key, rs.Count, rs.Average(r => r.Policy.MacsRatio), rs.Average(r => r.Policy.Score), before, after,
                    trials, seconds, rs.Sum(r => r.Trials) / (rs.Sum(r => r.Seconds) / 60), 100 * (before - uBefore),
                    after is { } a && uAfter is { } ua ? 100 * (a - ua) : null));
            }
        }
        return means;
    }

    // JSON has no NaN or infinity: a figure that cannot be measured (no training when loaded, no search time) is null.
    private static double? Finite(double value, int digits) => double.IsFinite(value) ? Math.Round(value, digits) : null;

    public static void Print(BenchOptions o, IReadOnlyList<ModelSummary> models, IReadOnlyList<BenchRow> rows)
    {
        var means = Means(rows);
        string After(double? a) => a is { } v ? v.ToString("P2", C) : "-";
        foreach (var s in models)
        {
            Console.WriteLine();
            Console.WriteLine(string.Create(C, $"{o.Title(s.Model)} at {o.Target:0.###} of the MACs (floor 0.2, {s.Groups} groups), {(o.Pruner == "lasso" ? "LASSO-pruned with reconstruction" : "L1-pruned")}; held-out {o.HeldOut} training images; unpruned test accuracy {s.UnprunedTest:P2}; finetuning {o.FinetuneEpochs} epoch(s){(o.CosineFinetune ? " (cosine lr)" : "")}{(o.PoliciesDir is null ? "" : " of the policies saved in " + o.PoliciesDir)}; BatchNorm re-estimated on {o.BatchNormBatches} batches; trials finetuned {o.RewardFinetuneSteps} steps before scoring; oneDNN {ConvKernels.UsesOneDnn}"));
            Console.WriteLine($"| {"seed",4} | {"method",-9} | {"MACs %",7} | {"held-out acc",12} | {"test before ft",14} | {"test after ft",13} | {"trials",6} | {"search s",8} | {"trials/min",10} |");
            Console.WriteLine("|-----:|-----------|--------:|-------------:|---------------:|--------------:|-------:|---------:|-----------:|");
            foreach (var r in rows.Where(r => r.Model == s.Model))
                Console.WriteLine(string.Create(C, $"| {r.Seed,4} | {r.Method,-9} | {r.Policy.MacsRatio,7:P1} | {r.Policy.Score,12:P2} | {r.TestBefore,14:P2} | {After(r.TestAfter),13} | {r.Trials,6} | {r.Seconds,8:0.0} | {r.TrialsPerMinute,10:0.0} |"));
            foreach (var m in means.Where(m => m.Model == s.Model))
            {
                string delta = m.Method == "uniform" ? "" : $" ({Points(m.DeltaBefore)} / {(m.DeltaAfter is { } d ? Points(d) : "-")} vs uniform)";
                Console.WriteLine(string.Create(C, $"| mean | {m.Method,-9} | {m.MacsRatio,7:P1} | {m.HeldOut,12:P2} | {m.TestBefore,14:P2} | {After(m.TestAfter),13} | {m.Trials,6:0.#} | {m.Seconds,8:0.0} | {m.TrialsPerMinute,10:0.0} |{delta}"));
            }
        }
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            benchmark = "ratio-search", target = o.Target, floor = 0.2, seeds = o.Seeds, episodes = o.Episodes, warmup = o.Warmup, population = o.Population,
            generations = o.Generations, held_out = o.HeldOut, epochs = o.Epochs, finetune_epochs = o.FinetuneEpochs, train_limit = o.TrainLimit,
            net_adapt_step = o.NetAdaptStep, net_adapt_finetune_steps = o.NetAdaptFinetuneSteps, net_adapt_finetune_lr = o.NetAdaptFinetuneLr,
            batchnorm_batches = o.BatchNormBatches, reward_finetune_steps = o.RewardFinetuneSteps, pruner = o.Pruner, finetune_schedule = o.CosineFinetune ? "cosine" : "constant", policies = o.PoliciesDir,
            onednn = ConvKernels.UsesOneDnn,
            models = models.Select(s => new
            {
                model = s.Model, unpruned_test_accuracy = Math.Round(s.UnprunedTest, 4), groups = s.Groups,
                train_seconds_per_epoch = double.IsFinite(s.TrainSecondsPerEpoch) ? Math.Round(s.TrainSecondsPerEpoch, 1) : (double?)null, uniform_trial_seconds = Math.Round(s.TrialSeconds, 2),
            }),
            rows = rows.Select(r => new
            {
                model = r.Model, seed = r.Seed, method = r.Method, macs_ratio = Math.Round(r.Policy.MacsRatio, 4), held_out_accuracy = Math.Round(r.Policy.Score, 4),
                test_accuracy_before_finetune = Math.Round(r.TestBefore, 4), test_accuracy_after_finetune = r.TestAfter is { } a ? Math.Round(a, 4) : (double?)null,
                trials = r.Trials, search_seconds = Finite(r.Seconds, 1), trials_per_minute = Finite(r.TrialsPerMinute, 1), kept = r.Policy.KeptChannels,
            }),
            means = means.Select(m => new
            {
                model = m.Model, method = m.Method, seeds = m.Seeds, macs_ratio = Math.Round(m.MacsRatio, 4), held_out_accuracy = Math.Round(m.HeldOut, 4),
                test_accuracy_before_finetune = Math.Round(m.TestBefore, 4), test_accuracy_after_finetune = m.TestAfter is { } a ? Math.Round(a, 4) : (double?)null,
                trials = m.Trials, search_seconds = Finite(m.Seconds, 1), trials_per_minute = Finite(m.TrialsPerMinute, 1),
                delta_before_points = Math.Round(m.DeltaBefore, 2), delta_after_points = m.DeltaAfter is { } d ? Math.Round(d, 2) : (double?)null,
            }),
        }));
    }

    /// <summary>A gap in points, signed, to two decimals; a gap that rounds to zero prints as −0.00 when it is below zero (the
    /// sign is what "not worse" asks).</summary>
    private static string Points(double points) =>
        Math.Round(points, 2) is var r && r == 0 ? (points < 0 ? "-0.00" : "+0.00") : r.ToString("+0.00;-0.00", C);
}
