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
    private readonly Conv2d conv1, conv2, conv3;
    private readonly BatchNorm2d bn1, bn2, bn3;
    private readonly ReLU relu1, relu2, relu3, relu4;
    private readonly MaxPool2d pool2, pool3;
    private readonly Flatten flatten;
    private readonly Linear fc1, fc2;

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
        relu1 = nn.ReLU(); relu2 = nn.ReLU(); relu3 = nn.ReLU(); relu4 = nn.ReLU();
        pool2 = nn.MaxPool2d(2); pool3 = nn.MaxPool2d(2);
        flatten = nn.Flatten();
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        // Each intermediate handle is released as soon as the next layer has used it: autograd keeps
        // what backward needs, and the step's peak memory drops.
        using var c1 = conv1.call(input);
        using var b1 = bn1.call(c1);
        using var r1 = relu1.call(b1);
        using var c2 = conv2.call(r1);
        using var b2 = bn2.call(c2);
        using var r2 = relu2.call(b2);
        using var p2 = pool2.call(r2);
        using var c3 = conv3.call(p2);
        using var b3 = bn3.call(c3);
        using var r3 = relu3.call(b3);
        using var p3 = pool3.call(r3);
        using var f = flatten.call(p3);
        using var h = fc1.call(f);
        using var r4 = relu4.call(h);
        return fc2.call(r4);
    }
}
