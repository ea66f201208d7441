namespace Trainer.Core.Latency;

/// <summary>
/// A compress step's channel allocation and the timings it rests on. Timings differ between runs and machines, so every
/// decision they made is said here (for the report) and the decision is recorded before the work that follows it (for
/// a resumed run to replay, see <see cref="Compression.IterationJournal"/>).
/// </summary>
/// <param name="Allocation">The widths chosen, or null when the compressor chooses them itself.</param>
/// <param name="TimedBy">Each decision a timing made, in words ("widths from this machine's latency table ...");
/// empty when nothing timed decided.</param>
public sealed record AllocationDecision(ChannelAllocation? Allocation, IReadOnlyList<string> TimedBy)
{
    /// <summary>No allocation by the core (the compressor's own), nothing timed.</summary>
    public static AllocationDecision None { get; } = new(null, []);
}
