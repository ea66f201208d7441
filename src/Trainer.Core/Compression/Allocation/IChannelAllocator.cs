using Trainer.Core.Graph;
using Trainer.Core.Latency;

namespace Trainer.Core.Compression.Allocation;

/// <summary>
/// A policy that decides how many channels each group of a compress step's model keeps (Compression:Allocation): one
/// ratio for every layer (uniform), widths timed on this machine (latency), or widths a ratio search found (searched).
/// The compressor still chooses which channels; a compressor that sizes its layers itself ("compressor", or NNI's
/// global ranking inside the Pruners plugin) gets no allocation.
/// </summary>
public interface IChannelAllocator
{
    /// <summary>The Compression:Allocation value that selects this policy.</summary>
    string Kind { get; }

    /// <summary>Chooses the kept channels of the step's model (keyed by the groups of <paramref name="graph"/>) within
    /// <paramref name="targetOfCurrent"/> of its MACs, and says which timings decided them.</summary>
    /// <exception cref="ArgumentException">The target or the policy cannot be met on this model.</exception>
    AllocationDecision Allocate(CompressionStepInput input, ModelGraph graph, double targetOfCurrent);
}
