using Trainer.Abstractions.Quantization;
using Trainer.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Quantization;

/// <summary>Tiny models, plans and data for the quantization tests.</summary>
internal static class QuantTestModels
{
    /// <summary>conv(1→4, 3×3, pad 1) - bn - relu - flatten - fc(4·6·6 → 5): input [N, 1, 6, 6].</summary>
    public static nn.Module<Tensor, Tensor> ConvNet(long seed = 0)
    {
        manual_seed(seed);
        var model = nn.Sequential(("conv", nn.Conv2d(1, 4, 3, padding: 1)), ("bn", nn.BatchNorm2d(4)), ("relu", nn.ReLU()),
            ("flatten", nn.Flatten()), ("fc", nn.Linear(4 * 6 * 6, 5)));
        using (no_grad())
        {
            // Non-trivial BatchNorm statistics, so folding has something to fold.
            var bn = (TorchSharp.Modules.BatchNorm2d)model.named_modules().First(m => m.name == "bn").module;
            bn.running_mean!.copy_(tensor(new[] { 0.1f, -0.2f, 0.3f, 0f }));
            bn.running_var!.copy_(tensor(new[] { 0.5f, 2f, 1f, 1.5f }));
            bn.weight!.copy_(tensor(new[] { 1.2f, 0.8f, -0.5f, 1f }));
            bn.bias!.copy_(tensor(new[] { 0.05f, -0.1f, 0.2f, 0f }));
        }
        return model;
    }

    /// <summary>A model dominated by one big Linear (1024→512), for the file size ratio.</summary>
    public static nn.Module<Tensor, Tensor> BigLinear(long seed = 0)
    {
        manual_seed(seed);
        return nn.Sequential(("fc1", nn.Linear(1024, 512)), ("relu", nn.ReLU()), ("fc2", nn.Linear(512, 10)));
    }

    /// <summary>Random inputs of <paramref name="shape"/> (first dimension the sample count) with zero targets.</summary>
    public static TensorBatchLoader Loader(long[] shape, int batchSize, long seed = 1)
    {
        manual_seed(seed);
        var inputs = randn(shape);
        var targets = zeros(shape[0], ScalarType.Int64);
        return new TensorBatchLoader(inputs, targets, batchSize, shuffle: false);
    }

    /// <summary>A plan quantizing every listed layer the same way.</summary>
    public static QuantizationPlan Plan(TensorQuantization? weight, TensorQuantization? input, TensorQuantization? output,
        bool fold = false, params string[] layers) =>
        new("test", layers.Select(l => new LayerQuantization(l, weight, input, output)).ToList(), 0, false, fold, "test plan");

    /// <summary>Modules by path.</summary>
    public static Dictionary<string, nn.Module> Modules(nn.Module model) => model.named_modules().ToDictionary(m => m.name, m => m.module);
}
