using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Abstractions.Quantization;
using Trainer.Core.Callbacks;
using Trainer.Core.Quantization;
using Trainer.Core.Tests.TensorBoard;
using TorchSharp;
using static TorchSharp.torch;
using static Trainer.Core.Tests.Quantization.QuantTestModels;

namespace Trainer.Core.Tests.Quantization;

public class QuantizationTensorBoardTests
{
    [Fact]
    public void Writes_scales_ranges_and_histograms_per_layer()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var model = ConvNet();
        var session = new QuantizationSession(model, [1, 1, 6, 6], NullLogger.Instance);
        session.Apply(Plan(new(8, QuantMethod.Naive), new(8, QuantMethod.MinMax, QuantizationScheme.Affine), null, false, "conv", "fc"));
        using var data = Loader([4, 1, 6, 6], 4);
        session.Calibrate(data, 1);

        new QuantizationTensorBoard(utils.tensorboard.SummaryWriter(dir.Path), session.Layers).Write(3);

        var values = TfEventReader.ReadDirectory(dir.Path).SelectMany(e => e.Values).ToList();
        var scalars = values.Where(v => v.Kind == TfValueKind.Simple).ToDictionary(v => v.Tag, v => v.SimpleValue!.Value);
        var q = session.Layers[1].InputQuantizer!;
        Assert.Equal(q.Scale!.item<float>(), scalars["quant/fc/input_scale"], 6);
        Assert.Equal((-128 - q.ZeroPoint!.item<long>()) * q.Scale.item<float>(), scalars["quant/fc/input_min"], 5);
        Assert.Equal(session.Layers[0].Weight.abs().max().item<float>() / 127.5f, scalars["quant/conv/weight_scale"], 6);
        var histograms = values.Where(v => v.Kind == TfValueKind.Histogram).ToDictionary(v => v.Tag, v => v.Histogram!);
        Assert.Equal(["quant_codes/conv", "quant_codes/fc", "quant_weights/conv", "quant_weights/fc"], histograms.Keys.Order());
        Assert.Equal(36.0, histograms["quant_weights/conv"].Num);
        Assert.InRange(histograms["quant_codes/fc"].Max, 128, 255);
    }
}
