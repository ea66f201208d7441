using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Trainer.Core.Tests.Inference;

/// <summary>A residual block like TorchVision's BasicBlock: conv-BN-ReLU-conv-BN, plus a 1x1 conv-BN shortcut when the shape changes.</summary>
internal sealed class TinyBlock : nn.Module<Tensor, Tensor>
{
    // Typed like TorchVision's BasicBlock, so a BatchNorm can be replaced by Identity.
    private readonly Module<Tensor, Tensor> conv1, conv2, bn1, bn2;
    private readonly ReLU relu1;
    private readonly Sequential? downsample;

    public TinyBlock(long input, long output, long stride) : base(nameof(TinyBlock))
    {
        conv1 = nn.Conv2d(input, output, 3, stride: stride, padding: 1, bias: false);
        bn1 = nn.BatchNorm2d(output);
        relu1 = nn.ReLU(inplace: true);
        conv2 = nn.Conv2d(output, output, 3, padding: 1, bias: false);
        bn2 = nn.BatchNorm2d(output);
        if (stride != 1 || input != output)
            downsample = nn.Sequential(nn.Conv2d(input, output, 1, stride: stride, bias: false), nn.BatchNorm2d(output));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var identity = downsample is null ? x : downsample.call(x);
        var y = bn2.call(conv2.call(relu1.call(bn1.call(conv1.call(x)))));
        return y.add_(identity).relu_();
    }
}

/// <summary>Stem conv-BN-ReLU-maxpool, two residual blocks (the second with a downsample shortcut), avgpool, flatten, fc.</summary>
internal sealed class TinyResNet : nn.Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> conv1, bn1;
    private readonly ReLU relu;
    private readonly MaxPool2d maxpool;
    private readonly TinyBlock layer1, layer2;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Flatten flatten;
    private readonly Linear fc;

    public TinyResNet() : base(nameof(TinyResNet))
    {
        conv1 = nn.Conv2d(3, 16, 3, padding: 1, bias: false);
        bn1 = nn.BatchNorm2d(16);
        relu = nn.ReLU(inplace: true);
        maxpool = nn.MaxPool2d(2);
        layer1 = new TinyBlock(16, 16, 1);
        layer2 = new TinyBlock(16, 32, 2);
        avgpool = nn.AdaptiveAvgPool2d(1);
        flatten = nn.Flatten();
        fc = nn.Linear(32, 10);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) =>
        fc.call(flatten.call(avgpool.call(layer2.call(layer1.call(maxpool.call(relu.call(bn1.call(conv1.call(x)))))))));
}

/// <summary>A conv whose raw output is read twice: by its BatchNorm and by a functional add, so the BN must not be folded.</summary>
internal sealed class SharedConvOutputNet : nn.Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> conv, bn;

    public SharedConvOutputNet() : base(nameof(SharedConvOutputNet))
    {
        conv = nn.Conv2d(3, 8, 3, padding: 1);
        bn = nn.BatchNorm2d(8);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var y = conv.call(x);
        return bn.call(y) + y;
    }
}
