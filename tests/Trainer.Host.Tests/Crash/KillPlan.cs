using System.Globalization;

namespace Trainer.Host.Tests.Crash;

/// <summary>One planned kill of `trainer run`.</summary>
internal abstract record PlannedKill
{
    /// <summary>When, in the unbroken run's time, the kill is meant to land (the moment the target file was written, or the
    /// seeded random moment).</summary>
    public abstract TimeSpan At { get; }
}

/// <summary>A kill inside the write of the file whose path contains <paramref name="Target"/> (TRAINER_KILL_DURING_WRITE).</summary>
/// <param name="Target">Path tail of the file, e.g. "compress/manifest.json".</param>
/// <param name="WrittenAt">When the unbroken run renamed that file into place.</param>
internal sealed record WriteKill(string Target, TimeSpan WrittenAt) : PlannedKill
{
    /// <inheritdoc />
    public override TimeSpan At => WrittenAt;

    /// <inheritdoc />
    public override string ToString() => $"kill while writing {Target} (written at {WrittenAt.TotalSeconds:0.0} s)";
}

/// <summary>A kill (<see cref="System.Diagnostics.Process.Kill()"/>, SIGKILL) at a seeded random moment of the pipeline.</summary>
/// <param name="Fraction">The seeded draw in [0, 1): the moment is this fraction of the unbroken run's duration.</param>
/// <param name="Moment">Fraction × the unbroken run's duration.</param>
internal sealed record TimedKill(double Fraction, TimeSpan Moment) : PlannedKill
{
    /// <inheritdoc />
    public override TimeSpan At => Moment;

    /// <inheritdoc />
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"kill at {Moment.TotalSeconds:0.0} s of the pipeline (u = {Fraction:0.000})");
}

/// <summary>
/// The seeded kill schedule of the crash harness: targeted write kills at the unbroken run's write times and random kills at
/// seeded moments within its duration, taken in pipeline order. A resumed process skips what its run already finished, so a
/// random moment becomes a delay counted from the progress the crashed run has made (the unbroken run's time of its most
/// advanced result on disk); a targeted kill goes first when a random moment falls just before its write, so that a resumed
/// process running faster than the unbroken one cannot write the target before its turn.
/// </summary>
internal sealed class KillPlan
{
    private readonly List<WriteKill> _writes;
    private readonly List<TimedKill> _timed;
    private readonly Random _random;
    private readonly TimeSpan _duration;

    /// <summary>Draws <paramref name="randomKills"/> moments in [0, <paramref name="duration"/>) from <paramref name="seed"/>.</summary>
    public KillPlan(int seed, TimeSpan duration, IEnumerable<WriteKill> writes, int randomKills)
    {
        _random = new Random(seed);
        _duration = duration;
        _timed = Enumerable.Range(0, randomKills).Select(_ => _random.NextDouble()).Order()
            .Select(u => new TimedKill(u, duration * u)).ToList();
        _writes = writes.OrderBy(w => w.WrittenAt).ToList();
        Planned = [.. _writes.Cast<PlannedKill>().Concat(_timed).OrderBy(k => k.At)];
    }

    /// <summary>Every kill, in the unbroken run's time order.</summary>
    public IReadOnlyList<PlannedKill> Planned { get; }

    /// <summary>True while kills are left.</summary>
    public bool Any => _writes.Count > 0 || _timed.Count > 0;

    /// <summary>The next kill given the crashed run's <paramref name="progress"/>; removes it from the plan.</summary>
    public PlannedKill Next(TimeSpan progress)
    {
        PlannedKill next;
        if (_writes.Count > 0 && (_timed.Count == 0 || _timed[0].At >= _writes[0].At - Margin(_writes[0].At - progress)))
            next = _writes[0];
        else next = _timed[0];
        if (next is WriteKill w) _writes.Remove(w);
        else _timed.Remove((TimedKill)next);
        return next;
    }

    /// <summary>Plans one more random kill, the next draw of the seed, in place of one that did not land (the run finished
    /// first): it will be a kill of the finished run resumed again, at that fraction of such a run's duration.</summary>
    public TimedKill Replace()
    {
        var u = _random.NextDouble();
        var kill = new TimedKill(u, _duration * u);
        _timed.Add(kill);
        _timed.Sort((a, b) => a.At.CompareTo(b.At));
        return kill;
    }

    /// <summary>How much sooner than planned a resumed process may get somewhere: a quarter of the way plus 2 s.</summary>
    private static TimeSpan Margin(TimeSpan way) => TimeSpan.FromSeconds(2) + (way > TimeSpan.Zero ? way / 4 : TimeSpan.Zero);
}
