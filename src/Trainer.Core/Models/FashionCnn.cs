using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Trainer.Core.Models;

/// <summary>
/// The Fashion-MNIST CNN of the project's reference figures: conv(1-32)-BN-ReLU, conv(32-64)-BN-ReLU,
/// maxpool, conv(64-128)-BN-ReLU, maxpool, fc 6272-256, ReLU, fc 256-10. Layers are created in the
/// same order as the PyTorch reference, so the same seed gives the same initial weights.
/// </summary>
public sealed class FashionCnn : nn.Module<Tensor, Tensor>
{
    // Typed as modules, not Conv2d/Linear, so a compressor may replace a layer (e.g. by a factorized Sequential).
    private readonly nn.Module<Tensor, Tensor> conv1, conv2, conv3;
    private readonly BatchNorm2d bn1, bn2, bn3;
    private readonly ReLU relu1, relu2, relu3, relu4;
    private readonly MaxPool2d pool2, pool3;
    private readonly Flatten flatten;
    private readonly nn.Module<Tensor, Tensor> fc1, fc2;

    /// <summary>Creates the network with PyTorch's default initialisation.</summary>
    public FashionCnn(int classes = 10) : base(nameof(FashionCnn))
    {
        conv1 = nn.Conv2d(1, 32, 3, padding: 1);
        bn1 = nn.BatchNorm2d(32);
        conv2 = nn.Conv2d(32, 64, 3, padding: 1);
        bn2 = nn.BatchNorm2d(64);
        conv3 = nn.Conv2d(64, 128, 3, padding: 1);
        bn3 = nn.BatchNorm2d(128);
        fc1 = nn.Linear(128 * 7 * 7, 256);
        fc2 = nn.Linear(256, classes);
        // In place: BatchNorm and Linear backward need their inputs, not their outputs, so ReLU may overwrite them.
        relu1 = nn.ReLU(inplace: true); relu2 = nn.ReLU(inplace: true); relu3 = nn.ReLU(inplace: true); relu4 = nn.ReLU(inplace: true);
        pool2 = nn.MaxPool2d(2); pool3 = nn.MaxPool2d(2);
        flatten = nn.Flatten();
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        // Like Sequential, each intermediate is released as soon as the next layer has used it:
        // autograd keeps what backward needs, and peak memory stays that of one layer, not all.
        var x = conv1.call(input);
        x = Then(x, bn1); x = Then(x, relu1);
        x = Then(x, conv2); x = Then(x, bn2); x = Then(x, relu2); x = Then(x, pool2);
        x = Then(x, conv3); x = Then(x, bn3); x = Then(x, relu3); x = Then(x, pool3);
        x = Then(x, flatten); x = Then(x, fc1); x = Then(x, relu4);
        return Then(x, fc2);
    }

    private static Tensor Then(Tensor x, nn.Module<Tensor, Tensor> layer)
    {
        var y = layer.call(x);
        x.Dispose();
        return y;
    }
}
