using Trainer.Core.Compression;
using Trainer.Core.Latency;
using Trainer.Core.Tests.Fuzz;

namespace Trainer.Core.Tests.Compression;

/// <summary>The journal of an unfinished compress iteration: what it replays, and what it refuses to replay.</summary>
public sealed class IterationJournalTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "trainer-journal-" + Guid.NewGuid().ToString("N"));
    private readonly RecordingLogger _logger = new();

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static IterationJournal Journal() => new()
    {
        Index = 2, TargetOfOriginal = Math.Pow(0.5, 2.0 / 3), LatencyTargetOfOriginal = null,
        Allocation = new ChannelAllocation("latency-aware", new Dictionary<string, int> { ["conv1"] = 16, ["fc1"] = 168 },
            new Dictionary<string, int> { ["conv1"] = 32, ["fc1"] = 256 }, 1234, 5678, 0.5, 1.0),
        TimedBy = ["the widths: predicted by this machine's latency table (x.json)"],
        AfterCompress = new ModelMetrics(1234, 99, 0.75, 0.125), Speedup = 1.7,
    };

    [Fact]
    public void A_saved_journal_replays_its_allocation_timings_and_measured_speed()
    {
        var path = IterationJournal.PathFor(_dir, 2);
        Journal().Save(path);

        var loaded = IterationJournal.TryLoad(path, 2, Math.Pow(0.5, 2.0 / 3), null, _logger);

        Assert.NotNull(loaded);
        Assert.Equal(new Dictionary<string, int> { ["conv1"] = 16, ["fc1"] = 168 }, loaded.Allocation!.KeptChannels.ToDictionary());
        Assert.Equal(32, loaded.Allocation.GroupChannels["conv1"]);
        Assert.Equal(Journal().TimedBy, loaded.Decision.TimedBy);
        Assert.Equal(new ModelMetrics(1234, 99, 0.75, 0.125), loaded.AfterCompress);
        Assert.Equal(1.7, loaded.Speedup);
        Assert.Empty(_logger.Warnings);
        Assert.Equal(Path.Combine(_dir, "iteration-2.journal.json"), path);
    }

    [Theory]
    [InlineData(0.6, null, "another target")]
    [InlineData(0.62996052494743671, 0.7, "another target")]
    public void A_journal_made_for_another_target_is_not_replayed(double target, double? latencyTarget, string reason)
    {
        var path = IterationJournal.PathFor(_dir, 2);
        Journal().Save(path);

        Assert.Null(IterationJournal.TryLoad(path, 2, target, latencyTarget, _logger));
        Assert.Contains(_logger.Warnings, w => w.Contains(reason) && w.Contains(path));
    }

    [Theory]
    [InlineData("")]
    [InlineData("{\"format\":\"trainer.iteration-journal/1\",\"Index\":2}")]
    [InlineData("{\"format\":\"trainer.compression-manifest/1\"}")]
    [InlineData("not json")]
    public void A_damaged_or_foreign_journal_is_a_warning_naming_it_and_the_iteration_decides_again(string text)
    {
        var path = IterationJournal.PathFor(_dir, 2);
        Directory.CreateDirectory(_dir);
        File.WriteAllText(path, text);

        Assert.Null(IterationJournal.TryLoad(path, 2, Math.Pow(0.5, 2.0 / 3), null, _logger));
        Assert.Contains(_logger.Warnings, w => w.Contains(path) && w.Contains("decides again"));
    }

    [Fact]
    public void An_allocation_keeping_more_channels_than_its_group_has_is_refused()
    {
        var path = IterationJournal.PathFor(_dir, 2);
        var journal = Journal();
        (journal with { Allocation = journal.Allocation! with { KeptChannels = new Dictionary<string, int> { ["conv1"] = 40 } } }).Save(path);

        Assert.Null(IterationJournal.TryLoad(path, 2, journal.TargetOfOriginal, null, _logger));
        Assert.Contains(_logger.Warnings, w => w.Contains("allocation is damaged"));
    }
}
