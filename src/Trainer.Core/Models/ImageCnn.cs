using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Trainer.Core.Models;

/// <summary>
/// The image tasks' own classifier, for any channel count, class count and image size of at least 4×4: two
/// conv-BN-ReLU pairs at full resolution (width w), max-pool, two pairs at 2w, max-pool, one conv-BN-ReLU at 4w, global
/// average pooling and one linear layer to the classes. Global pooling makes it independent of the image size. With
/// w = 32 on 3×32×32 it has about 29 M multiply-accumulates. Every conv is a prunable group for channel pruning.
/// </summary>
public sealed class ImageCnn : nn.Module<Tensor, Tensor>
{
    // Typed as modules so compression can swap a layer (quantization wrappers, folded BatchNorm, factorized convs).
    private readonly nn.Module<Tensor, Tensor> conv1, conv2, conv3, conv4, conv5;
    private readonly nn.Module<Tensor, Tensor> bn1, bn2, bn3, bn4, bn5;
    private readonly ReLU relu1, relu2, relu3, relu4, relu5;
    private readonly MaxPool2d pool1, pool2;
    private readonly AdaptiveAvgPool2d gap;
    private readonly Flatten flatten;
    private readonly nn.Module<Tensor, Tensor> fc;

    /// <summary>Creates the network with PyTorch's default initialisation.</summary>
    /// <param name="channels">Input channels (1 grey, 3 colour, 4 with alpha).</param>
    /// <param name="classes">Number of classes (outputs).</param>
    /// <param name="width">Channels of the first convs; the later ones have 2× and 4× as many.</param>
    public ImageCnn(int channels, int classes, int width = 32) : base(nameof(ImageCnn))
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        Channels = channels;
        Classes = classes;
        conv1 = nn.Conv2d(channels, width, 3, padding: 1); bn1 = nn.BatchNorm2d(width);
        conv2 = nn.Conv2d(width, width, 3, padding: 1); bn2 = nn.BatchNorm2d(width);
        conv3 = nn.Conv2d(width, 2 * width, 3, padding: 1); bn3 = nn.BatchNorm2d(2 * width);
        conv4 = nn.Conv2d(2 * width, 2 * width, 3, padding: 1); bn4 = nn.BatchNorm2d(2 * width);
        conv5 = nn.Conv2d(2 * width, 4 * width, 3, padding: 1); bn5 = nn.BatchNorm2d(4 * width);
        fc = nn.Linear(4 * width, classes);
        // In place: BatchNorm backward needs its input, not its output, so ReLU may overwrite it.
        relu1 = nn.ReLU(inplace: true); relu2 = nn.ReLU(inplace: true); relu3 = nn.ReLU(inplace: true);
        relu4 = nn.ReLU(inplace: true); relu5 = nn.ReLU(inplace: true);
        pool1 = nn.MaxPool2d(2); pool2 = nn.MaxPool2d(2);
        gap = nn.AdaptiveAvgPool2d(1);
        flatten = nn.Flatten();
        RegisterComponents();
    }

    /// <summary>Input channels.</summary>
    public int Channels { get; }

    /// <summary>Number of classes.</summary>
    public int Classes { get; }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        // Each intermediate is released as soon as the next layer has used it (autograd keeps what backward needs).
        var x = conv1.call(input);
        x = Then(x, bn1); x = Then(x, relu1); x = Then(x, conv2); x = Then(x, bn2); x = Then(x, relu2); x = Then(x, pool1);
        x = Then(x, conv3); x = Then(x, bn3); x = Then(x, relu3); x = Then(x, conv4); x = Then(x, bn4); x = Then(x, relu4); x = Then(x, pool2);
        x = Then(x, conv5); x = Then(x, bn5); x = Then(x, relu5);
        x = Then(x, gap); x = Then(x, flatten);
        return Then(x, fc);
    }

    private static Tensor Then(Tensor x, nn.Module<Tensor, Tensor> layer)
    {
        var y = layer.call(x);
        x.Dispose();
        return y;
    }
}
