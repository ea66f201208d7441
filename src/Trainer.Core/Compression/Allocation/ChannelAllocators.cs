using Microsoft.Extensions.Logging;
using Trainer.Core.Graph;
using Trainer.Core.Latency;

namespace Trainer.Core.Compression.Allocation;

/// <summary>The allocation policies by their Compression:Allocation name.</summary>
public static class ChannelAllocators
{
    /// <summary>The policy <paramref name="options"/> names, or null for "compressor" (the compressor sizes its layers).</summary>
    /// <exception cref="ArgumentException">An unknown kind.</exception>
    public static IChannelAllocator? For(CompressionSessionOptions options, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Allocation.ToLowerInvariant() switch
        {
            "compressor" => null,
            "uniform" => new UniformChannelAllocator(options, logger),
            "latency" => new LatencyChannelAllocator(options, logger),
            "searched" => new SearchedChannelAllocator(options.PolicyFile, logger),
            _ => throw new ArgumentException($"unknown allocation '{options.Allocation}'; accepted: {string.Join(", ", CompressionSessionOptions.Allocations)}"),
        };
    }
}

/// <summary>One keep ratio for every allocatable group, the largest within the MACs target (<see cref="UniformAllocator"/>).</summary>
internal sealed class UniformChannelAllocator(CompressionSessionOptions options, ILogger logger) : IChannelAllocator
{
    public string Kind => "uniform";

    public AllocationDecision Allocate(CompressionStepInput input, ModelGraph graph, double targetOfCurrent) =>
        new(UniformAllocator.Allocate(input.Model, graph, targetOfCurrent, options.RoundTo, logger: logger), []);
}

/// <summary>Widths chosen by this machine's latency table (<see cref="LatencyAllocation"/>).</summary>
internal sealed class LatencyChannelAllocator(CompressionSessionOptions options, ILogger logger) : IChannelAllocator
{
    public string Kind => "latency";

    public AllocationDecision Allocate(CompressionStepInput input, ModelGraph graph, double targetOfCurrent) =>
        new LatencyAllocation(options, logger).Choose(input, graph, targetOfCurrent);
}
