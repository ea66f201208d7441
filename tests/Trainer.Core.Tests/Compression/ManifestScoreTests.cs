using Trainer.Abstractions.Tasks;
using Trainer.Core.Compression;

namespace Trainer.Core.Tests.Compression;

/// <summary>A manifest records its metrics in the task's score, and reads the first format's accuracy as that score.</summary>
public sealed class ManifestScoreTests
{
    private static CompressionManifest Manifest(TaskScore? score) => new()
    {
        Model = new ModelIdentity("fashion-cnn", "", "", [1, 1, 28, 28]),
        Original = new ModelMetrics(30_735_360, 1_701_578, 0.9, 0.5),
        Score = score,
        Iterations =
        [
            new CompressionIteration
            {
                Index = 1, Compressor = "c", TargetMacsRatio = 0.5, Edits = [], AfterCompress = new(1, 1, 0.8, 0.4),
                AfterFinetune = new(1, 1, 0.85, 0.4), Channels = new Dictionary<string, int> { ["conv1"] = 16 },
            },
        ],
    };

    [Fact]
    public void A_lower_is_better_score_round_trips_under_its_own_name()
    {
        var mse = new TaskScore("mse", ScoreDirection.LowerIsBetter);
        var json = Manifest(mse).ToJson();

        var loaded = CompressionManifest.FromJson(json, "test");

        Assert.Equal(mse, loaded.Score);
        Assert.Contains("\"direction\": \"LowerIsBetter\"", json);
        Assert.Contains("\"score\": 0.85", json);
        Assert.DoesNotContain("\"accuracy\"", json);
        Assert.Equal(0.85, loaded.Current.Score);
    }

    [Fact]
    public void A_manifest_of_the_first_format_reads_its_accuracy_as_the_score_of_a_classification_task()
    {
        // The first format, as the project wrote it: no score record, "accuracy" in every metrics object.
        var first = Manifest(null).ToJson()
            .Replace(CompressionManifest.FormatTag, CompressionManifest.AccuracyFormatTag)
            .Replace("\"score\": null,", "")
            .Replace("\"score\":", "\"accuracy\":");
        Assert.DoesNotContain("\"score\"", first);

        var loaded = CompressionManifest.FromJson(first, "test");

        Assert.Equal(TaskScore.Accuracy, loaded.Score);
        Assert.Equal(CompressionManifest.FormatTag, loaded.Format);
        Assert.Equal(0.9, loaded.Original.Score);
        Assert.Equal(0.8, loaded.Iterations[0].AfterCompress.Score);
        Assert.Equal(0.85, loaded.Iterations[0].AfterFinetune.Score);
    }
}
