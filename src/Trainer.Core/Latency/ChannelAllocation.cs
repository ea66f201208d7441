using System.Globalization;
using System.Text;
using Trainer.Core.Graph;

namespace Trainer.Core.Latency;

/// <summary>
/// How many channels each allocatable group keeps, with the cost the allocator predicted for it.
/// <see cref="GroupKeepRatios"/> is what the host passes to compressors as <c>CompressionRequest.GroupKeepRatios</c>.
/// </summary>
/// <param name="Method">"latency-aware" or "uniform".</param>
/// <param name="KeptChannels">Group id → kept channel count (every allocatable group, including those kept whole).</param>
/// <param name="GroupChannels">Group id → channel count before.</param>
/// <param name="Macs">Conv/Linear MACs after narrowing (exact, see <see cref="MacsModel"/>).</param>
/// <param name="FullMacs">Conv/Linear MACs before.</param>
/// <param name="PredictedMs">Latency predicted by the table, or null when no table was given.</param>
/// <param name="FullPredictedMs">The table's prediction for the model before, or null.</param>
public sealed record ChannelAllocation(string Method, IReadOnlyDictionary<string, int> KeptChannels,
    IReadOnlyDictionary<string, int> GroupChannels, long Macs, long FullMacs, double? PredictedMs, double? FullPredictedMs)
{
    /// <summary>Group id → kept fraction (kept / channels before).</summary>
    public IReadOnlyDictionary<string, double> GroupKeepRatios =>
        KeptChannels.ToDictionary(p => p.Key, p => (double)p.Value / GroupChannels[p.Key]);

    /// <summary>MACs after over MACs before.</summary>
    public double MacsRatio => FullMacs == 0 ? 1 : (double)Macs / FullMacs;

    /// <summary>Predicted speedup (before over after), or null without a table.</summary>
    public double? PredictedSpeedup => PredictedMs is { } p && FullPredictedMs is { } f && p > 0 ? f / p : null;

    /// <summary>Smallest kept fraction over the groups.</summary>
    public double MinKeepRatio => GroupKeepRatios.Values.DefaultIfEmpty(1).Min();

    /// <summary>
    /// Masks that keep the first k channels of every narrowed group, for <see cref="Pruning.ChannelShrinker"/>
    /// (every producer of a group gets its slice of the group's mask). Which channels to keep is a compressor's choice; first-k is
    /// what latency measurements need.
    /// </summary>
    public IReadOnlyDictionary<string, bool[]> FirstChannelMasks(ModelGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var masks = new Dictionary<string, bool[]>();
        foreach (var (id, kept) in KeptChannels)
        {
            int channels = GroupChannels[id];
            if (kept >= channels) continue;
            var mask = Enumerable.Range(0, channels).Select(c => c < kept).ToArray();
            foreach (var (producer, slice) in graph.GroupOf(id).ProducerMasks(mask)) masks[producer] = slice;
        }
        return masks;
    }

    /// <summary>"latency-aware: MACs 0.495, predicted 8.1 → 4.4 ms (1.84x); conv1 32/64, layer1.0.conv1 48/64, ...".</summary>
    public override string ToString()
    {
        var text = new StringBuilder(string.Create(CultureInfo.InvariantCulture, $"{Method}: MACs {MacsRatio:0.000}"));
        if (PredictedMs is { } p && FullPredictedMs is { } f)
            text.Append(CultureInfo.InvariantCulture, $", predicted {f:0.00} → {p:0.00} ms ({f / p:0.00}x)");
        text.Append("; ").AppendJoin(", ", KeptChannels.Select(k => $"{k.Key} {k.Value}/{GroupChannels[k.Key]}"));
        return text.ToString();
    }
}
