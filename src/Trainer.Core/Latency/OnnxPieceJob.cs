using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Trainer.Core.Latency;

/// <summary>
/// One latency piece at one (input, output) width pair in ONNX Runtime: a fresh producer (Conv2d or Linear with the
/// model's kernel, stride, padding, dilation and bias) at those widths, a fresh BatchNorm when the piece has one, and the
/// model's own parameter-free layers after it, as a Sequential exported with the project's ONNX exporter and loaded in an
/// <see cref="OnnxRuntimeRunner"/> session. ONNX Runtime then fuses and lays out the piece as it would inside the model
/// (Conv + BatchNorm + Relu fused, NCHWc where the widths allow).
/// </summary>
internal sealed class OnnxPieceJob : LatencyMeasurer.ITimedPiece
{
    private readonly OnnxRuntimeRunner runner;

    public OnnxPieceJob(LatencyPiece piece, int inCount, int outCount, int threads)
    {
        long inWidth = inCount * piece.InBlock;
        var shape = piece.Producer.InputShape.ToArray();
        if (piece.Module is Conv2d) shape[1] = inWidth;
        else shape[^1] = inWidth;
        var (producer, norm) = Fresh(piece, inWidth, outCount);
        try
        {
            var layers = new List<(string, nn.Module<Tensor, Tensor>)> { ("producer", producer) };
            if (norm is not null) layers.Add(("norm", norm));
            // The model's own parameter-free layers, shared: the Sequential is not disposed (that would dispose them too).
            layers.AddRange(piece.Trailing.Select((t, i) => ($"after{i}", (nn.Module<Tensor, Tensor>)t.Module)));
            var sequential = nn.Sequential(layers);
            sequential.eval();
            runner = new OnnxRuntimeRunner(OnnxRuntimeRunner.ExportBytes(sequential, shape), shape, threads);
        }
        finally
        {
            producer.Dispose();
            norm?.Dispose();
        }
    }

    /// <summary>The whole model exported and loaded, for the final batch of the measurement.</summary>
    /// <exception cref="Export.Onnx.OnnxExportException">The model cannot be written as ONNX (the latency form onnx needs it).</exception>
    public static OnnxRuntimeRunner Whole(nn.Module<Tensor, Tensor> model, long[] inputShape, int threads) =>
        OnnxRuntimeRunner.Export(model, inputShape, threads);

    public void Run() => runner.Run();

    public void Dispose() => runner.Dispose();

    /// <summary>The producer and BatchNorm at the given widths, made without moving torch's global generator (their default
    /// initialisation draws from it, and training draws from it after the table is measured).</summary>
    private static (nn.Module<Tensor, Tensor> Producer, nn.Module<Tensor, Tensor>? Norm) Fresh(LatencyPiece piece, long inWidth, int outCount)
    {
        using var state = random.get_rng_state();
        try
        {
            nn.Module<Tensor, Tensor> producer;
            if (piece.Module is Conv2d conv)
            {
                var kernel = (conv.kernel_size[0], conv.kernel_size[1]);
                var stride = (conv.stride[0], conv.stride[1]);
                var dilation = (conv.dilation[0], conv.dilation[1]);
                producer = conv.padding is { } padding
                    ? nn.Conv2d(inWidth, outCount, kernel, stride, (padding[0], padding[1]), dilation, conv.padding_mode, bias: conv.bias is not null)
                    : nn.Conv2d(inWidth, outCount, kernel, conv.padding_type!.Value, stride, dilation, conv.padding_mode, bias: conv.bias is not null);
            }
            else producer = nn.Linear(inWidth, outCount, hasBias: ((Linear)piece.Module).bias is not null);
            nn.Module<Tensor, Tensor>? norm = piece.Norm switch
            {
                null => null,
                BatchNorm1d b => nn.BatchNorm1d(outCount, eps: b.eps),
                var b => nn.BatchNorm2d(outCount, eps: b.eps),
            };
            return (producer, norm);
        }
        finally
        {
            random.set_rng_state(state);
        }
    }
}
