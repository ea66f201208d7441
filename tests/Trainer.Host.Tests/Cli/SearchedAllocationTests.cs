using Trainer.Core.Compression;
using Trainer.Core.Graph;
using Trainer.Core.Latency;
using Trainer.Core.Models;
using Trainer.Core.Search;

namespace Trainer.Host.Tests.Cli;

/// <summary>Compression:Allocation = searched: the best policy of a ratio search sizes the compress step, and a policy that
/// does not belong to the model is refused by name.</summary>
public sealed class SearchedAllocationTests : IDisposable
{
    private readonly CompressVerbTests verbs = new();

    public void Dispose() => verbs.Dispose();

    private static IReadOnlyList<AllocatableGroup> FashionGroups()
    {
        using var model = ModelCatalog.Get("fashion-cnn").Create();
        return AllocatableGroup.Of(ModelGraph.Build(model, [1, 1, 28, 28]));
    }

    private string WritePolicy(IEnumerable<GroupKeep> groups)
    {
        Directory.CreateDirectory(verbs.Work);
        var path = Path.Combine(verbs.Work, "search-result.json");
        new SearchResult(new RatioPolicy("genetic", groups.ToList(), 0, 0, 0, 0.8, 0.8), []).Save(path);
        return path;
    }

    private (int Code, string Out, string Err) Compress(string policy, params string[] extra) => verbs.Cli("run",
        ["--Pipeline:Stages:0=train", "--Pipeline:Stages:1=compress", "--Compression:Plugins:0=ChannelPruning",
         "--Compression:Compressor=channel-pruning", "--Compression:Settings:method=l1", "--Compression:Allocation=searched",
         $"--Compression:Policy={policy}", "--Compression:RoundTo=1", "--Compression:FinetuneEpochs=0", .. extra]);

    [Fact]
    public void The_best_policy_sets_each_groups_width_in_the_compress_step()
    {
        var groups = FashionGroups();
        // Uneven widths no uniform or latency allocation would pick: 3/8, 5/8, 1/4, ... of each group.
        var keeps = groups.Select((g, i) => new GroupKeep(g.Id, g.Channels, Math.Max(1, g.Channels * (i % 2 == 0 ? 3 : 5) / 8))).ToList();
        var (code, _, err) = Compress(WritePolicy(keeps));
        Assert.True(code == 0, err);

        var manifest = CompressionManifest.Load(Path.Combine(verbs.Work, "ckpt", "r", "compress", "manifest.json"));
        var widths = manifest.Iterations.Single().Channels;
        foreach (var keep in keeps)
            Assert.Equal(keep.Kept, widths[keep.Id]);
    }

    [Fact]
    public void A_policy_that_is_missing_or_of_another_model_is_refused_naming_Compression_Policy()
    {
        var (code, _, err) = Compress(Path.Combine(verbs.Work, "none.json"));
        Assert.Equal(2, code);
        Assert.Contains("Compression:Policy", err);
        Assert.False(Directory.Exists(Path.Combine(verbs.Work, "ckpt")));   // refused before any work

        var groups = FashionGroups();
        var renamed = WritePolicy(groups.Select(g => new GroupKeep(g.Id == groups[0].Id ? "features.0" : g.Id, g.Channels, g.Channels / 2)));
        (code, _, err) = Compress(renamed);
        Assert.Equal(2, code);
        Assert.Contains("names group 'features.0'", err);
        Assert.Contains("Compression:Policy", err);

        var wider = WritePolicy(groups.Select(g => new GroupKeep(g.Id, g.Channels * 2, g.Channels / 2)));
        (code, _, err) = Compress(wider, "--Trainer:RunName=r2");
        Assert.Equal(2, code);
        Assert.Contains("where it was searched", err);

        (code, _, err) = Compress(wider, "--Compression:Iterations=2", "--Trainer:RunName=r3");
        Assert.Equal(2, code);
        Assert.Contains("Compression:Iterations = 2", err);
    }
}
