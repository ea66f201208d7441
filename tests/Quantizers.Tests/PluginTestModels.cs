using Trainer.Abstractions.Quantization;
using Trainer.Core.Data;
using static TorchSharp.torch;

namespace Quantizers.Tests;

internal static class PluginTestModels
{
    /// <summary>conv1(1→4)-bn1-relu1-conv2(4→4)-bn2-relu2-flatten-fc(144→5), input [N, 1, 6, 6].</summary>
    public static nn.Module<Tensor, Tensor> Net(long seed = 0)
    {
        manual_seed(seed);
        return nn.Sequential(("conv1", nn.Conv2d(1, 4, 3, padding: 1)), ("bn1", nn.BatchNorm2d(4)), ("relu1", nn.ReLU()),
            ("conv2", nn.Conv2d(4, 4, 3, padding: 1)), ("bn2", nn.BatchNorm2d(4)), ("relu2", nn.ReLU()),
            ("flatten", nn.Flatten()), ("fc", nn.Linear(144, 5)));
    }

    public static TensorBatchLoader Data(int samples = 16, int batch = 4, long seed = 1)
    {
        manual_seed(seed);
        return new TensorBatchLoader(randn(samples, 1, 6, 6), randint(0, 5, samples), batch, shuffle: false);
    }

    public static QuantizationRequest Request(nn.Module<Tensor, Tensor> model, Trainer.Abstractions.IBatchLoader? data, params (string Key, string Value)[] settings) => new()
    {
        Model = model,
        ExampleInputShape = [1, 1, 6, 6],
        CalibrationData = data,
        Settings = settings.ToDictionary(s => s.Key, s => s.Value),
    };

    public static Dictionary<string, Type> Types(nn.Module model) => model.named_modules().ToDictionary(m => m.name, m => m.module.GetType());
}
