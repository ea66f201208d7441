using TorchSharp;
using TorchSharp.Modules;
using Trainer.Core.Data;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Compression;

/// <summary>A ResNet-style basic block: conv-BN-ReLU-conv-BN plus the identity (or a strided 1x1 downsample), then ReLU.</summary>
internal sealed class TinyBlock : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> conv1, conv2;
    private readonly BatchNorm2d bn1, bn2;
    private readonly nn.Module<Tensor, Tensor>? downsample;

    public TinyBlock(long cin, long cout, long stride) : base(nameof(TinyBlock))
    {
        conv1 = nn.Conv2d(cin, cout, 3, stride: stride, padding: 1, bias: false);
        bn1 = nn.BatchNorm2d(cout);
        conv2 = nn.Conv2d(cout, cout, 3, padding: 1, bias: false);
        bn2 = nn.BatchNorm2d(cout);
        if (stride != 1 || cin != cout) downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride: stride, bias: false), nn.BatchNorm2d(cout));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var y = bn2.call(conv2.call(bn1.call(conv1.call(x)).relu()));
        var identity = downsample is null ? x : downsample.call(x);
        return (y + identity).relu();
    }
}

/// <summary>stem conv 3→8, block 8→8, block 8→16 (stride 2, downsample), global pool, fc 16→5: resnet18's coupling in small.</summary>
internal sealed class TinyResNet : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> stem = nn.Conv2d(3, 8, 3, padding: 1, bias: false);
    private readonly BatchNorm2d bn = nn.BatchNorm2d(8);
    private readonly TinyBlock layer1 = new(8, 8, 1), layer2 = new(8, 16, 2);
    private readonly AdaptiveAvgPool2d pool = nn.AdaptiveAvgPool2d(1);
    private readonly Flatten flatten = nn.Flatten();
    private readonly nn.Module<Tensor, Tensor> fc = nn.Linear(16, 5);

    public TinyResNet() : base(nameof(TinyResNet)) => RegisterComponents();

    public override Tensor forward(Tensor x) =>
        fc.call(flatten.call(pool.call(layer2.call(layer1.call(bn.call(stem.call(x)).relu())))));
}

/// <summary>conv 3→6 (3x3, pad 1) → ReLU → conv 6→5 (3x3, stride 2, pad 1) → ReLU → flatten → fc 80→7, for 8x8 inputs.</summary>
internal sealed class StridedNet : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> conv1 = nn.Conv2d(3, 6, 3, padding: 1);
    private readonly nn.Module<Tensor, Tensor> conv2;
    private readonly Flatten flatten = nn.Flatten();
    private readonly nn.Module<Tensor, Tensor> fc = nn.Linear(5 * 4 * 4, 7);

    public StridedNet(long dilation = 1, PaddingModes paddingMode = PaddingModes.Zeros) : base(nameof(StridedNet))
    {
        conv2 = nn.Conv2d(6, 5, 3, stride: 2, padding: dilation, dilation: dilation, padding_mode: paddingMode);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => fc.call(flatten.call(conv2.call(conv1.call(x).relu()).relu()));
}

internal static class EditorFixtures
{
    /// <summary>A loader over <paramref name="count"/> random images of <paramref name="shape"/> (per sample), batches of 8, in order.</summary>
    /// <remarks>The tensors are kept alive by the loader's owner for the test's duration.</remarks>
    public static (TensorBatchLoader Loader, Tensor Inputs, Tensor Targets) RandomImages(long count, long[] shape, int seed = 0)
    {
        torch.manual_seed(seed);
        var inputs = torch.randn([count, .. shape]).DetachFromDisposeScope();
        var targets = torch.zeros(count, ScalarType.Int64).DetachFromDisposeScope();
        return (new TensorBatchLoader(inputs, targets, 8, shuffle: false), inputs, targets);
    }

    /// <summary>A mask of <paramref name="channels"/> flags with <paramref name="kept"/> true ones at random positions.</summary>
    public static bool[] RandomFlags(int channels, int kept, Random random)
    {
        var order = Enumerable.Range(0, channels).ToArray();
        random.Shuffle(order);
        var flags = new bool[channels];
        foreach (var c in order.Take(kept)) flags[c] = true;
        return flags;
    }

    /// <summary>The model's output on <paramref name="x"/> in eval mode.</summary>
    public static Tensor Eval(nn.Module<Tensor, Tensor> model, Tensor x)
    {
        model.eval();
        using var _ = torch.no_grad();
        return model.call(x);
    }

    /// <summary>Gives every BatchNorm non-trivial running statistics and affine parameters, so shrinking and copying them matters.</summary>
    public static void RandomizeNorms(nn.Module model)
    {
        using var _ = torch.no_grad();
        foreach (var (_, m) in model.named_modules())
            if (m is BatchNorm2d bn)
            {
                bn.running_mean!.copy_(torch.randn(bn.running_mean.shape) * 0.1);
                bn.running_var!.copy_(torch.rand(bn.running_var.shape) + 0.5);
                bn.weight!.copy_(torch.rand(bn.weight.shape) + 0.5);
                bn.bias!.copy_(torch.randn(bn.bias.shape) * 0.1);
            }
    }
}
