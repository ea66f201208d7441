using Trainer.Core.Search;
using Trainer.Core.Tasks;
using Trainer.Core.Tests.Pruning;
using Trainer.Tests.Shared;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Search;

public sealed class FinetuningPolicyScorerTests
{
    [Fact]
    public void ACandidateIsShrunkFinetunedAndScoredRepeatablyAndTheAdoptedOneBecomesTheBase()
    {
        using var scope = NewDisposeScope();
        manual_seed(7);
        using var task = new TinyTask();
        task.Configure(TaskContext.Empty);
        var model = AdmmPruningTests.TinyConvNet();
        long[] shape = [1, 3, 8, 8];
        var before = model.state_dict().ToDictionary(p => p.Key, p => p.Value.clone());
        var heldOut = task.CalibrationLoader(64, 32, 2);
        var finetune = new ShortTrainingOptions { Steps = 40, LearningRate = 0.1, Seed = 4 };
        using var scorer = new FinetuningPolicyScorer(task, AdmmPruningTests.TinyConvNet, model, shape, task.TrainLoader(32, 1, 1.0), heldOut, finetune);
        var plain = new TaskPolicyScorer(task, AdmmPruningTests.TinyConvNet, model, shape, heldOut);
        var policy = new Dictionary<string, int> { ["conv1"] = 6, ["conv2"] = 4 };

        var a = scorer.Score(policy);
        var b = scorer.Score(policy);
        var unfinetuned = plain.Score(policy);
        Assert.Equal(a.Score, b.Score);                     // seeded: the same candidate, the same weights
        Assert.True(a.Score > unfinetuned.Score, $"finetuned {a.Score} vs {unfinetuned.Score}");   // finetuning trained the copy before it was scored
        Assert.Equal(unfinetuned.Parameters, a.Parameters); // the same shrunk architecture
        Assert.True(a.Score <= 0, $"an error (lower is better) is negated: {a.Score}");

        scorer.Adopt(policy);
        Assert.Equal(6, scorer.Base.named_parameters().Single(p => p.name == "conv1.weight").parameter.shape[0]);
        Assert.Single(scorer.BaseEdits);
        // Candidates now start from the adopted, finetuned base: keeping its widths scores it as it is.
        var adoptedScore = -task.ScoreOf(scorer.Base, heldOut);
        Assert.Equal(a.Score, adoptedScore);
        foreach (var (name, value) in model.state_dict()) Assert.True(value.equal(before[name]).all().item<bool>(), $"{name} changed");

        // The adopted base as data: its weights file and edits rebuild it, and a scorer over the rebuilt base scores alike.
        var file = Path.Combine(Path.GetTempPath(), $"netadapt-base-{Guid.NewGuid():N}.bin");
        try
        {
            scorer.SaveBase(file);
            var rebuilt = AdmmPruningTests.TinyConvNet();
            Trainer.Core.Compression.EditReplay.Apply(rebuilt, shape, scorer.BaseEdits);
            Trainer.Core.Checkpoints.CheckpointFile.LoadWeights(file, rebuilt);
            rebuilt.eval();
            Assert.Equal(adoptedScore, -task.ScoreOf(rebuilt, heldOut));
            var next = new Dictionary<string, int> { ["conv1"] = 6, ["conv2"] = 3 };
            using var elsewhere = new FinetuningPolicyScorer(task, AdmmPruningTests.TinyConvNet, rebuilt, shape, task.TrainLoader(32, 1, 1.0), heldOut,
                finetune, edits: scorer.BaseEdits);
            Assert.Equal(scorer.Score(next).Score, elsewhere.Score(next).Score);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
