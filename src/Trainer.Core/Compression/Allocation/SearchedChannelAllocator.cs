using System.Globalization;
using Microsoft.Extensions.Logging;
using Trainer.Core.Graph;
using Trainer.Core.Latency;
using Trainer.Core.Search;

namespace Trainer.Core.Compression.Allocation;

/// <summary>
/// The widths a ratio search found (AMC's agent, the genetic algorithm; a <see cref="SearchResult"/> file, or one
/// <see cref="RatioPolicy"/>): its best policy's kept count per group, checked against the step's model. A policy
/// belongs to the model it was searched on: every group it names must exist with the channels it had, so it applies to
/// the first compress step of that model.
/// </summary>
public sealed class SearchedChannelAllocator : IChannelAllocator
{
    private readonly string path;
    private readonly ILogger logger;

    /// <summary>Reads the policy of <paramref name="policyFile"/> when allocating.</summary>
    public SearchedChannelAllocator(string policyFile, ILogger logger)
    {
        path = policyFile;
        this.logger = logger;
    }

    /// <inheritdoc />
    public string Kind => "searched";

    /// <summary>The best policy in <paramref name="file"/>.</summary>
    /// <exception cref="ArgumentException">No file is named, it is missing, or it holds no search result.</exception>
    public static RatioPolicy Load(string file)
    {
        if (string.IsNullOrEmpty(file))
            throw new ArgumentException("the searched allocation needs the search's result: set Compression:Policy to its search-result.json");
        if (!File.Exists(file))
            throw new ArgumentException($"Compression:Policy '{file}' does not exist; point it at the search-result.json of `trainer search`");
        try
        {
            return SearchResult.Load(file).Best;
        }
        catch (InvalidDataException e)
        {
            throw new ArgumentException($"Compression:Policy '{file}': {e.Message}", e);
        }
    }

    /// <inheritdoc />
    public AllocationDecision Allocate(CompressionStepInput input, ModelGraph graph, double targetOfCurrent)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var policy = Load(path);
        var groups = AllocatableGroup.Of(graph).ToDictionary(g => g.Id, g => g.Channels);
        foreach (var keep in policy.Groups)
        {
            if (!groups.TryGetValue(keep.Id, out var channels))
                throw new ArgumentException($"Compression:Policy '{path}' names group '{keep.Id}', which this model does not have as a prunable group " +
                                            $"(closest: {string.Join(", ", Models.NameSuggestions.Closest(keep.Id, groups.Keys))}): it was searched on another model");
            if (channels != keep.Channels)
                throw new ArgumentException($"Compression:Policy '{path}': group '{keep.Id}' has {channels} channels here, {keep.Channels} where it was searched; " +
                                            "a searched policy applies to the model it was searched on, in its first compress step (Compression:Iterations = 1)");
            if (keep.Kept < 1 || keep.Kept > keep.Channels)
                throw new ArgumentException($"Compression:Policy '{path}': group '{keep.Id}' keeps {keep.Kept} of {keep.Channels} channels");
        }
        var kept = policy.Groups.Where(g => g.Kept < g.Channels).ToDictionary(g => g.Id, g => g.Kept);
        var macs = MacsModel.Build(input.Model, graph, AllocatableGroup.Of(graph));
        var allocation = new ChannelAllocation($"searched ({policy.Method})", kept, groups, macs.Macs(kept), macs.FullMacs, null, null);
        logger.LogInformation("Channel allocation from the {Method} search in '{Path}': {Allocation} (the search scored it {Score}; " +
                              "the step's MACs target was {Target})", policy.Method, path, allocation,
            policy.Score.ToString("0.####", CultureInfo.InvariantCulture), targetOfCurrent.ToString("0.###", CultureInfo.InvariantCulture));
        return new AllocationDecision(allocation, []);
    }
}
