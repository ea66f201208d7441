using TorchSharp;
using TorchSharp.Modules;
using Trainer.Core.Export.Onnx;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Export.Onnx;

/// <summary>Exports a model into a fresh temporary folder and checks it in ONNX Runtime at batch 1 and batch 3.</summary>
internal sealed class OnnxScratch : IDisposable
{
    public OnnxScratch() => Directory.CreateDirectory(Folder);

    public string Folder { get; } = Path.Combine(Path.GetTempPath(), "trainer-onnx-tests", Guid.NewGuid().ToString("N"));

    public string PathOf(string name) => Path.Combine(Folder, name);

    /// <summary>Exports <paramref name="model"/> for <paramref name="shape"/> (batch 1) and compares ONNX Runtime with TorchSharp
    /// on one batch-1 and one batch-3 random input.</summary>
    public (OnnxExportResult Export, OnnxCheckResult Check) ExportAndCheck(nn.Module<Tensor, Tensor> model, long[] shape, double tolerance = 1e-4)
    {
        var export = OnnxExporter.Export(model, shape, PathOf("model.onnx"));
        using var scope = NewDisposeScope();
        var check = OnnxRuntimeCheck.Verify(export.Path, model, Inputs(shape), new OnnxCheckOptions { Threads = 1, Tolerance = tolerance });
        return (export, check);
    }

    /// <summary>The inputs compared: one at batch 1, one at batch 3.</summary>
    public static Tensor[] Inputs(long[] shape)
    {
        var generator = new Generator(11);
        return [randn(shape, generator: generator), randn([3, .. shape.Skip(1)], generator: generator)];
    }

    /// <summary>The model's own float32 rounding error: its largest difference from the same model in float64 on
    /// <see cref="Inputs"/>. The model is returned in float32.</summary>
    public static double Float32Noise(nn.Module<Tensor, Tensor> model, long[] shape)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        model.eval();
        var inputs = Inputs(shape);
        var single = inputs.Select(x => model.call(x).to_type(ScalarType.Float64)).ToList();
        model.to(ScalarType.Float64);
        double noise = inputs.Zip(single, (x, y) => (model.call(x.to_type(ScalarType.Float64)) - y).abs().max().item<double>()).Max();
        model.to(ScalarType.Float32);
        return noise;
    }

    public void Dispose()
    {
        try { Directory.Delete(Folder, recursive: true); }
        catch (IOException) { }
    }
}

internal static class OnnxTestModels
{
    /// <summary>Gives every BatchNorm2d of <paramref name="model"/> non-trivial statistics and affine parameters, so that the
    /// exported BatchNormalization nodes are really exercised (fresh ones are the identity in eval mode).</summary>
    public static T WithRandomNorms<T>(T model, ulong seed = 3) where T : nn.Module
    {
        var generator = new Generator(seed);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var (_, module) in model.named_modules())
            if (module is BatchNorm2d bn)
            {
                long c = bn.running_mean!.shape[0];
                bn.running_mean.copy_(randn(c, generator: generator) * 0.1);
                bn.running_var!.copy_(rand(c, generator: generator) + 0.5);
                bn.weight!.copy_(rand(c, generator: generator) + 0.5);
                bn.bias!.copy_(randn(c, generator: generator) * 0.1);
            }
        return model;
    }

    /// <summary>Gives every BatchNorm2d of <paramref name="model"/> the statistics of one random batch at <paramref name="shape"/>
    /// (as training leaves them) and random affine parameters: activations then keep the scale of a trained network instead of
    /// growing through dozens of residual blocks, as they do with fresh statistics.</summary>
    public static T WithCalibratedNorms<T>(T model, long[] shape, ulong seed = 3) where T : nn.Module<Tensor, Tensor>
    {
        var generator = new Generator(seed);
        using var scope = NewDisposeScope();
        var norms = model.named_modules().Select(m => m.module).OfType<BatchNorm2d>().ToList();
        using (no_grad())
        {
            foreach (var bn in norms)
            {
                long c = bn.running_mean!.shape[0];
                bn.weight!.copy_(rand(c, generator: generator) + 0.5);
                bn.bias!.copy_(randn(c, generator: generator) * 0.1);
                bn.reset_running_stats();
                bn.momentum = null; // a cumulative average: after one batch, that batch's statistics
            }
            model.train();
            model.call(randn([32, .. shape.Skip(1)], generator: generator));
            model.eval();
        }
        foreach (var bn in norms) bn.momentum = 0.1;
        return model;
    }
}
