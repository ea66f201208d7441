using System.Globalization;
using Trainer.Core.Compression;
using TorchSharp;

namespace Trainer.Core.Compression;

/// <summary>
/// TensorBoard scalars of the compression stage, one step per iteration (0 = the original): MACs, parameters, latency,
/// accuracy before and after finetuning, and the output channels of every Conv2d/Linear.
/// </summary>
/// <remarks>TorchSharp's writer appends every event to its file as it is logged, so there is nothing to flush or close.</remarks>
public sealed class CompressionBoard(string logDir)
{
    private readonly TorchSharp.Modules.SummaryWriter _writer = torch.utils.tensorboard.SummaryWriter(logDir);

    /// <summary>Logs iteration <paramref name="step"/> (0: the original model, <paramref name="iteration"/> null).</summary>
    public void Log(int step, ModelMetrics metrics, CompressionIteration? iteration)
    {
        _writer.add_scalar("compress/macs", metrics.Macs, step);
        _writer.add_scalar("compress/params", metrics.Params, step);
        _writer.add_scalar("compress/latency_ms", (float)metrics.LatencyMs, step);
        _writer.add_scalar("compress/score_after_finetune", (float)metrics.Score, step);
        _writer.add_scalar("compress/score_before_finetune", (float)(iteration?.AfterCompress.Score ?? metrics.Score), step);
        _writer.add_scalar("compress/speedup", (float)(iteration?.Speedup ?? 1), step);
        if (iteration is null) return;
        foreach (var (layer, channels) in iteration.Channels) _writer.add_scalar($"channels/{layer}", channels, step);
        _writer.add_text("compress/summary", iteration.Summary.Length > 0
            ? iteration.Summary
            : string.Create(CultureInfo.InvariantCulture, $"iteration {iteration.Index}"), step);
    }
}
