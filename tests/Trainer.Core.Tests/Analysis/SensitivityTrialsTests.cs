using Trainer.Core.Analysis.Sensitivity;
using Trainer.Core.Search.Trials;
using Trainer.Core.Tests.Pruning;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Analysis;

/// <summary>A sensitivity analysis as trials: one shard spec per layer, run through a trial runner from the spec files, gives
/// the unsharded analysis' figures exactly (early stops against the baseline included); shards with results in place are not
/// run again; a shard spec round-trips its JSON.</summary>
public sealed class SensitivityTrialsTests(ITestOutputHelper output) : IDisposable
{
    private static readonly long[] Shape = [1, 3, 8, 8];
    private readonly DirectoryInfo folder = Directory.CreateTempSubdirectory("sensitivity-trials-");

    public void Dispose() => folder.Delete(recursive: true);

    [Fact]
    public void ShardsRunAsTrialsGiveTheUnshardedFiguresExactlyAndResultsInPlaceAreReused()
    {
        using var scope = NewDisposeScope();
        using var fixture = TinyTaskModel.Create(seed: 5);
        var (task, model) = fixture;
        double[] sparsities = [0.25, 0.5, 0.75];
        // Raised by 0: a layer's sweep stops at its first sparsity that raises the error above the baseline.
        var direct = TaskSensitivity.Analyze(task, model, "tiny", Shape, 64, sparsities, EarlyStopMode.Raised, 0.0);

        var shards = TaskSensitivity.Shards(task, model, "tiny", Shape, 64, sparsities, EarlyStopMode.Raised, 0.0);
        Assert.Equal(["conv1", "conv2"], shards.Select(s => Assert.Single(s.Layers)));
        var specs = shards.Select(s => TrialSpec.ForShard("tiny weights 42", new Dictionary<string, string> { ["Model:Name"] = "tiny" }, null, s)).ToList();
        int runs = 0;
        var runner = new InProcessTrialRunner((files, attempt) =>
        {
            runs++;
            var spec = TrialSpec.Load(files.SpecPath);
            using var trialScope = NewDisposeScope();
            TrialResult.OfShard(spec, TaskSensitivity.AnalyzeShard(task, model, spec.Shard!), 0, attempt).Save(files.ResultPath);
        });
        var trials = new SensitivityTrials(runner, folder.FullName);
        var sharded = trials.Run(specs);

        output.WriteLine($"baseline {direct.Baseline}; " + string.Join("; ", direct.Metrics.Select(l => $"{l.Key}: {string.Join(", ", l.Value.Values)}")));
        Assert.Equal(direct.Baseline, sharded.Baseline);
        Assert.Equal(direct.Sparsities, sharded.Sparsities);
        Assert.Equal(direct.Metrics.Keys, sharded.Metrics.Keys);
        foreach (var (layer, row) in direct.Metrics)
            Assert.Equal(row.Select(m => (m.Key, m.Value)), sharded.Metrics[layer].Select(m => (m.Key, m.Value)));
        Assert.Equal(2, runs);
        Assert.Equal(2, trials.Ran);
        // A sweep stopped early against the baseline the shards were handed (the test needs one to prove it).
        Assert.Contains(direct.Metrics.Values, row => row.Count < sparsities.Length);

        // Run again: both shards are answered by their results in place.
        var again = new SensitivityTrials(new InProcessTrialRunner((_, _) => throw new InvalidOperationException("ran again")), folder.FullName).Run(specs);
        Assert.Equal(direct.Metrics["conv2"].Values, again.Metrics["conv2"].Values);

        // The spec as JSON: version 2, the shard's settings (the mode by name), no policy or base.
        var path = Directory.GetFiles(folder.FullName, "shard-*.json").First(f => !f.EndsWith(".result.json"));
        var text = File.ReadAllText(path);
        Assert.Contains("\"earlyStopMode\": \"Raised\"", text);
        var loaded = TrialSpec.Load(path);
        Assert.Equal((TrialSpec.SensitivityShardKind, 2), (loaded.Kind, loaded.Version));
        Assert.Equal(specs.Single(s => s.Hash() == loaded.Hash()).Shard!.Layers, loaded.Shard!.Layers);
        Assert.Null(loaded.Base);
    }

    [Fact]
    public void AShardOfAnUnknownLayerOrWithoutLayersIsRefused()
    {
        using var scope = NewDisposeScope();
        using var fixture = TinyTaskModel.Create();
        var (task, model) = fixture;
        var shard = new SensitivityShard(["conv9"], [0.5], "l1", EarlyStopMode.None, null, 0.5, 64);
        Assert.Contains("conv9", Assert.Throws<ArgumentException>(() => TaskSensitivity.AnalyzeShard(task, model, shard)).Message);

        var path = Path.Combine(folder.FullName, "empty.json");
        TrialSpec.ForShard("tiny weights 42", new Dictionary<string, string>(), null, shard with { Layers = [] }).Save(path);
        Assert.Contains("needs a shard with layers", Assert.Throws<InvalidTrialSpecException>(() => TrialSpec.Load(path)).Message);
    }
}
