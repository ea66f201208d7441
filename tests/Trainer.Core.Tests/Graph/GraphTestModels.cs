using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Graph;

/// <summary>Two branches (conv 3→8 and conv 3→5) concatenated along channels, then a merge conv 13→4.</summary>
internal sealed class TwoBranchConcatNet : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d branchA = nn.Conv2d(3, 8, 3, padding: 1), branchB = nn.Conv2d(3, 5, 1);
    private readonly BatchNorm2d bnA = nn.BatchNorm2d(8), bnMerged = nn.BatchNorm2d(13);
    private readonly ReLU relu = nn.ReLU();
    private readonly Conv2d merge = nn.Conv2d(13, 4, 1);

    public TwoBranchConcatNet() : base(nameof(TwoBranchConcatNet)) => RegisterComponents();

    public override Tensor forward(Tensor x)
    {
        var a = relu.call(bnA.call(branchA.call(x)));
        var b = branchB.call(x);
        return merge.call(bnMerged.call(torch.cat([a, b], 1)));
    }
}

/// <summary>A MobileNetV2-style inverted residual: expand 1x1 → BN → ReLU6 → depthwise 3x3 → BN → ReLU6 → project 1x1 → BN, plus a head.</summary>
internal sealed class MobileBlockNet : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d stem = nn.Conv2d(3, 8, 3, padding: 1);
    private readonly Conv2d expand = nn.Conv2d(8, 24, 1, bias: false), depthwise = nn.Conv2d(24, 24, 3, padding: 1, groups: 24, bias: false);
    private readonly Conv2d project = nn.Conv2d(24, 8, 1, bias: false);
    private readonly BatchNorm2d bn0 = nn.BatchNorm2d(8), bn1 = nn.BatchNorm2d(24), bn2 = nn.BatchNorm2d(24), bn3 = nn.BatchNorm2d(8);
    private readonly ReLU6 act = nn.ReLU6();
    private readonly AdaptiveAvgPool2d pool = nn.AdaptiveAvgPool2d(1);
    private readonly Flatten flatten = nn.Flatten();
    private readonly Linear head = nn.Linear(8, 3);

    public MobileBlockNet() : base(nameof(MobileBlockNet)) => RegisterComponents();

    public override Tensor forward(Tensor x)
    {
        var s = act.call(bn0.call(stem.call(x)));
        var y = act.call(bn1.call(expand.call(s)));
        y = act.call(bn2.call(depthwise.call(y)));
        y = bn3.call(project.call(y));
        return head.call(flatten.call(pool.call(s + y)));
    }
}

/// <summary>conv 1→6 (3x3, pad 1) → ReLU → maxpool 2 → flatten → Linear(6*4*4 → 10), for 8x8 inputs.</summary>
internal sealed class ConvFlattenLinearNet : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv = nn.Conv2d(1, 6, 3, padding: 1);
    private readonly ReLU relu = nn.ReLU();
    private readonly MaxPool2d pool = nn.MaxPool2d(2);
    private readonly Flatten flatten = nn.Flatten();
    private readonly Linear fc = nn.Linear(6 * 4 * 4, 10);

    public ConvFlattenLinearNet() : base(nameof(ConvFlattenLinearNet)) => RegisterComponents();

    public override Tensor forward(Tensor x) => fc.call(flatten.call(pool.call(relu.call(conv.call(x)))));
}

/// <summary>conv 3→16 → grouped conv 16→32 (groups 4) → BN → ReLU → conv 32→8.</summary>
internal sealed class GroupedConvNet : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1 = nn.Conv2d(3, 16, 3, padding: 1);
    private readonly Conv2d grouped = nn.Conv2d(16, 32, 3, padding: 1, groups: 4);
    private readonly BatchNorm2d bn = nn.BatchNorm2d(32);
    private readonly ReLU relu = nn.ReLU();
    private readonly Conv2d conv3 = nn.Conv2d(32, 8, 1);

    public GroupedConvNet() : base(nameof(GroupedConvNet)) => RegisterComponents();

    public override Tensor forward(Tensor x) => conv3.call(relu.call(bn.call(grouped.call(conv1.call(x)))));
}

/// <summary>The same conv instance applied twice: conv 4→4 (shared) twice, then conv 4→2.</summary>
internal sealed class SharedConvNet : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d stem = nn.Conv2d(3, 4, 1), shared = nn.Conv2d(4, 4, 3, padding: 1), head = nn.Conv2d(4, 2, 1);

    public SharedConvNet() : base(nameof(SharedConvNet)) => RegisterComponents();

    public override Tensor forward(Tensor x) => head.call(shared.call(shared.call(stem.call(x))));
}

/// <summary>conv 3→8 → channel shuffle (2 groups, functional view/transpose) → conv 8→4: a layout the graph must refuse.</summary>
internal sealed class ChannelShuffleNet : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1 = nn.Conv2d(3, 8, 1), conv2 = nn.Conv2d(8, 4, 1);

    public ChannelShuffleNet() : base(nameof(ChannelShuffleNet)) => RegisterComponents();

    public override Tensor forward(Tensor x)
    {
        var y = conv1.call(x);
        var (b, c, h, w) = (y.shape[0], y.shape[1], y.shape[2], y.shape[3]);
        y = y.view(b, 2, c / 2, h, w).transpose(1, 2).contiguous().view(b, c, h, w);
        return conv2.call(y);
    }
}

/// <summary>conv 3→8 → nn.ChannelShuffle(2) module → conv 8→4.</summary>
internal sealed class ShuffleModuleNet : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1 = nn.Conv2d(3, 8, 1), conv2 = nn.Conv2d(8, 4, 1);
    private readonly ChannelShuffle shuffle = nn.ChannelShuffle(2);

    public ShuffleModuleNet() : base(nameof(ShuffleModuleNet)) => RegisterComponents();

    public override Tensor forward(Tensor x) => conv2.call(shuffle.call(conv1.call(x)));
}

/// <summary>conv 3→8 → PReLU(8) (per-channel parameters of a type the graph does not shrink) → conv 8→4.</summary>
internal sealed class PReluNet : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1 = nn.Conv2d(3, 8, 1), conv2 = nn.Conv2d(8, 4, 1);
    private readonly PReLU prelu = nn.PReLU(8);

    public PReluNet() : base(nameof(PReluNet)) => RegisterComponents();

    public override Tensor forward(Tensor x) => conv2.call(prelu.call(conv1.call(x)));
}

/// <summary>A block whose functional residual add fails: conv 3→4 plus conv 3→5.</summary>
internal sealed class MismatchedAddBlock : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d left = nn.Conv2d(3, 4, 1), right = nn.Conv2d(3, 5, 1);

    public MismatchedAddBlock() : base(nameof(MismatchedAddBlock)) => RegisterComponents();

    public override Tensor forward(Tensor x) => left.call(x) + right.call(x);
}

/// <summary>Wraps <see cref="MismatchedAddBlock"/> as child "block".</summary>
internal sealed class MismatchedAddNet : nn.Module<Tensor, Tensor>
{
    private readonly MismatchedAddBlock block = new();

    public MismatchedAddNet() : base(nameof(MismatchedAddNet)) => RegisterComponents();

    public override Tensor forward(Tensor x) => block.call(x);
}

/// <summary>conv 3→4, then y / y (0/0 = NaN once the conv is cut to zeros), then conv 4→2.</summary>
internal sealed class SelfDivideNet : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1 = nn.Conv2d(3, 4, 1), conv2 = nn.Conv2d(4, 2, 1);

    public SelfDivideNet() : base(nameof(SelfDivideNet)) => RegisterComponents();

    public override Tensor forward(Tensor x)
    {
        var y = conv1.call(x);
        return conv2.call(y / y);
    }
}
