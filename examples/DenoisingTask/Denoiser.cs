using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Examples.DenoisingTask;

/// <summary>
/// A small convolutional denoising autoencoder for 1×28×28 images: conv(1-32)-BN-ReLU at full resolution, max-pool to
/// 14×14, conv(32-64)-BN-ReLU, conv(64-32)-BN-ReLU, nearest upsampling back to 28×28 and conv(32-1) to the image. Only
/// layers the project's graph, pruning, low-rank and quantization support: the three inner convs are prunable groups,
/// the last conv (the image) is not.
/// </summary>
public sealed class Denoiser : nn.Module<Tensor, Tensor>
{
    // Typed as modules, not Conv2d/BatchNorm2d, so compression can swap a layer (quantization wrappers, folded
    // BatchNorm, factorized convs).
    private readonly nn.Module<Tensor, Tensor> conv1, conv2, conv3, conv4;
    private readonly nn.Module<Tensor, Tensor> bn1, bn2, bn3;
    private readonly ReLU relu1, relu2, relu3;
    private readonly MaxPool2d pool;
    private readonly Upsample upsample;

    /// <summary>Creates the network with PyTorch's default initialisation (the host seeds it with Trainer:Seed).</summary>
    public Denoiser() : base(nameof(Denoiser))
    {
        conv1 = nn.Conv2d(1, 32, 3, padding: 1);
        bn1 = nn.BatchNorm2d(32);
        conv2 = nn.Conv2d(32, 64, 3, padding: 1);
        bn2 = nn.BatchNorm2d(64);
        conv3 = nn.Conv2d(64, 32, 3, padding: 1);
        bn3 = nn.BatchNorm2d(32);
        conv4 = nn.Conv2d(32, 1, 3, padding: 1);
        // In place: BatchNorm backward needs its input, not its output, so ReLU may overwrite it.
        relu1 = nn.ReLU(inplace: true); relu2 = nn.ReLU(inplace: true); relu3 = nn.ReLU(inplace: true);
        pool = nn.MaxPool2d(2);
        upsample = nn.Upsample(scale_factor: [2.0, 2.0], mode: UpsampleMode.Nearest);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        // Each intermediate is released as soon as the next layer has used it (autograd keeps what backward needs).
        var x = conv1.call(input);
        x = Then(x, bn1); x = Then(x, relu1); x = Then(x, pool);
        x = Then(x, conv2); x = Then(x, bn2); x = Then(x, relu2);
        x = Then(x, conv3); x = Then(x, bn3); x = Then(x, relu3);
        x = Then(x, upsample);
        return Then(x, conv4);
    }

    private static Tensor Then(Tensor x, nn.Module<Tensor, Tensor> layer)
    {
        var y = layer.call(x);
        x.Dispose();
        return y;
    }
}
