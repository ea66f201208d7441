using Microsoft.Extensions.Logging;
using Trainer.Core.Graph;
using Trainer.Core.Latency;
using static TorchSharp.torch;

namespace Trainer.Core.Inference;

/// <summary>
/// The memory layout timing chose for a model on this machine, kept beside the latency tables (same key: the model's layer
/// shapes, the CPU, the thread count, the conv kernels in use), so that exporting the same model again makes the same choice
/// instead of timing again: two layouts within noise of each other would otherwise flip between runs.
/// </summary>
public static class LayoutChoiceCache
{
    /// <summary>The cache file of <paramref name="model"/> (as it is before the inference form) in <paramref name="cacheDir"/>.</summary>
    public static string PathFor(string cacheDir, nn.Module<Tensor, Tensor> model, long[] inputShape, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(cacheDir);
        ArgumentNullException.ThrowIfNull(model);
        var graph = ModelGraph.Build(model, inputShape, logger);
        var key = LatencyTableKey.For(model.GetType().Name, graph, new LatencyTableOptions { CacheDir = cacheDir, Layout = MemoryLayout.Fastest });
        return Path.Combine(cacheDir, "layout-" + Path.ChangeExtension(key.FileName(), ".txt"));
    }

    /// <summary>The layout cached at <paramref name="path"/>, or null when there is none or it cannot be read (a warning then:
    /// the cache only saves a timing, so the caller times again).</summary>
    public static MemoryLayout? TryLoad(string path, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        if (!File.Exists(path)) return null;
        try
        {
            var text = File.ReadAllText(path).Trim();
            if (Enum.TryParse<MemoryLayout>(text, out var layout) && layout is MemoryLayout.Contiguous or MemoryLayout.ChannelsLast) return layout;
            logger.LogWarning("The cached layout choice '{Path}' holds '{Text}', not a layout; timing the layouts again", path, text.Length > 40 ? text[..40] : text);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning("The cached layout choice '{Path}' cannot be read ({Error}); timing the layouts again", path, e.Message);
        }
        return null;
    }

    /// <summary>Caches <paramref name="layout"/> at <paramref name="path"/>; a cache that cannot be written is a warning.</summary>
    public static void Save(string path, MemoryLayout layout, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        if (layout is not (MemoryLayout.Contiguous or MemoryLayout.ChannelsLast))
            throw new ArgumentOutOfRangeException(nameof(layout), layout, "only a chosen layout is cached");
        try
        {
            IO.AtomicFile.WriteAllText(path, layout.ToString());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning("The layout choice could not be cached at '{Path}' ({Error}); the next export times again", path, e.Message);
        }
    }
}
