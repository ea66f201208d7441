using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Graph;

/// <summary>
/// A small U-Net for 1x3x16x16 inputs: enc1 conv 3→8 (16x16), maxpool, enc2 conv 8→16 (8x8), avgpool, bottleneck conv
/// 16→16 (4x4); up2 ConvTranspose2d 16→16 (k2, s2) concatenated with enc2 → dec2 conv 32→16; nn.Upsample (bilinear) then
/// concatenated with enc1 → dec1 conv 24→8; head conv 8→2, plus a side head conv 16→2 on dec2 brought to 16x16 by
/// functional interpolate (nearest) and added to it. Activations are ReLU, ReLU6 and Tanh (all map 0 to 0).
/// The Python twin is in Analysis/reference/nni_counts.py.
/// </summary>
internal sealed class UNetLike : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d enc1 = nn.Conv2d(3, 8, 3, padding: 1), enc2 = nn.Conv2d(8, 16, 3, padding: 1);
    private readonly Conv2d bottleneck = nn.Conv2d(16, 16, 3, padding: 1);
    private readonly ConvTranspose2d up2 = nn.ConvTranspose2d(16, 16, 2, stride: 2);
    private readonly Conv2d dec2 = nn.Conv2d(32, 16, 3, padding: 1), dec1 = nn.Conv2d(24, 8, 3, padding: 1);
    private readonly Conv2d head = nn.Conv2d(8, 2, 1), side = nn.Conv2d(16, 2, 1);
    private readonly BatchNorm2d bn1 = nn.BatchNorm2d(8), bn2 = nn.BatchNorm2d(16), bnb = nn.BatchNorm2d(16);
    private readonly BatchNorm2d bnUp = nn.BatchNorm2d(16), bnd2 = nn.BatchNorm2d(16), bnd1 = nn.BatchNorm2d(8);
    private readonly ReLU relu = nn.ReLU();
    private readonly ReLU6 relu6 = nn.ReLU6();
    private readonly Tanh tanh = nn.Tanh();
    private readonly MaxPool2d maxpool = nn.MaxPool2d(2);
    private readonly AvgPool2d avgpool = nn.AvgPool2d(2);
    private readonly Upsample upsample = nn.Upsample(scale_factor: [2.0, 2.0], mode: UpsampleMode.Bilinear, align_corners: false);

    public UNetLike() : base(nameof(UNetLike)) => RegisterComponents();

    public override Tensor forward(Tensor x)
    {
        var e1 = relu.call(bn1.call(enc1.call(x)));
        var e2 = relu.call(bn2.call(enc2.call(maxpool.call(e1))));
        var b = relu6.call(bnb.call(bottleneck.call(avgpool.call(e2))));
        var u2 = tanh.call(bnUp.call(up2.call(b)));
        var d2 = relu.call(bnd2.call(dec2.call(torch.cat([u2, e2], 1))));
        var d1 = relu.call(bnd1.call(dec1.call(torch.cat([upsample.call(d2), e1], 1))));
        var sideOut = nn.functional.interpolate(side.call(d2), scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest);
        return head.call(d1) + sideOut;
    }
}

/// <summary>
/// A Conv1d model for 1x4x32 sequences: conv 4→16 (k3) → BatchNorm1d → ReLU → conv 16→32 (k3, stride 2) → BatchNorm1d →
/// Tanh → depthwise conv 32 (k3) → ReLU → MaxPool1d 2 → permute to [N,T,C] → Linear 32→24 → ReLU → permute back →
/// conv 24→16 (k1) → ReLU → AdaptiveAvgPool1d 1 → squeeze → Linear 16→3. The Python twin is in nni_counts.py.
/// </summary>
internal sealed class Conv1dNet : nn.Module<Tensor, Tensor>
{
    private readonly Conv1d conv1 = nn.Conv1d(4, 16, 3, padding: 1), conv2 = nn.Conv1d(16, 32, 3, stride: 2, padding: 1);
    private readonly Conv1d depthwise = nn.Conv1d(32, 32, 3, padding: 1, groups: 32), conv3 = nn.Conv1d(24, 16, 1);
    private readonly BatchNorm1d bn1 = nn.BatchNorm1d(16), bn2 = nn.BatchNorm1d(32);
    private readonly Linear mix = nn.Linear(32, 24), fc = nn.Linear(16, 3);
    private readonly ReLU relu = nn.ReLU();
    private readonly Tanh tanh = nn.Tanh();
    private readonly MaxPool1d pool = nn.MaxPool1d(2);
    private readonly AdaptiveAvgPool1d gap = nn.AdaptiveAvgPool1d(1);

    public Conv1dNet() : base(nameof(Conv1dNet)) => RegisterComponents();

    public override Tensor forward(Tensor x)
    {
        var y = relu.call(bn1.call(conv1.call(x)));
        y = tanh.call(bn2.call(conv2.call(y)));
        y = pool.call(relu.call(depthwise.call(y)));
        y = relu.call(mix.call(y.permute(0, 2, 1))).permute(0, 2, 1);
        y = gap.call(relu.call(conv3.call(y)));
        return fc.call(y.squeeze(-1));
    }
}

/// <summary>
/// A concatenation that meets full-width tensors, for 1x3x8x8 inputs: branchA conv 3→8 (BN, ReLU) and branchB conv 3→8
/// are concatenated (16 channels); a squeeze-excitation gate (avg pool, conv 16→4, ReLU, conv 4→16, Sigmoid) multiplies
/// the concatenation; a shortcut conv 3→16 is added to it; then BN, ReLU, conv 16→12 (ReLU6), global average pool,
/// view to [N, 12] and Linear 12→5. Channels [0,8) of the shortcut and of the gate are tied to branchA, [8,16) to branchB.
/// The Python twin is in nni_counts.py.
/// </summary>
internal sealed class ConcatResidualSeNet : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d branchA = nn.Conv2d(3, 8, 3, padding: 1), branchB = nn.Conv2d(3, 8, 1), shortcut = nn.Conv2d(3, 16, 1);
    private readonly Conv2d squeeze = nn.Conv2d(16, 4, 1), excite = nn.Conv2d(4, 16, 1), conv = nn.Conv2d(16, 12, 3, padding: 1);
    private readonly BatchNorm2d bnA = nn.BatchNorm2d(8), bnSum = nn.BatchNorm2d(16);
    private readonly ReLU relu = nn.ReLU();
    private readonly ReLU6 relu6 = nn.ReLU6();
    private readonly Sigmoid sigmoid = nn.Sigmoid();
    private readonly AdaptiveAvgPool2d seePool = nn.AdaptiveAvgPool2d(1), gap = nn.AdaptiveAvgPool2d(1);
    private readonly Linear fc = nn.Linear(12, 5);

    public ConcatResidualSeNet() : base(nameof(ConcatResidualSeNet)) => RegisterComponents();

    public override Tensor forward(Tensor x)
    {
        var cat = torch.cat([relu.call(bnA.call(branchA.call(x))), branchB.call(x)], 1);
        var gate = sigmoid.call(excite.call(relu.call(squeeze.call(seePool.call(cat)))));
        var y = relu.call(bnSum.call(cat * gate + shortcut.call(x)));
        y = gap.call(relu6.call(conv.call(y)));
        return fc.call(y.view(y.shape[0], -1));
    }
}

/// <summary>
/// A concatenation meeting a residual whose first input is also read alone, for 1x3x8x8 inputs: convA 3→6 (3x3, ReLU) and
/// convB 3→4 (1x1) are concatenated (10 channels) and added to shortcut 3→10 (1x1); ReLU, conv 10→8 (3x3); side conv 6→8
/// (1x1) reads convA's output alone and is added to conv's; ReLU, global average pool, view to [N, 8], Linear 8→5.
/// </summary>
internal sealed class ConcatSideReadNet : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d convA = nn.Conv2d(3, 6, 3, padding: 1), convB = nn.Conv2d(3, 4, 1), shortcut = nn.Conv2d(3, 10, 1);
    private readonly Conv2d conv = nn.Conv2d(10, 8, 3, padding: 1), side = nn.Conv2d(6, 8, 1);
    private readonly AdaptiveAvgPool2d gap = nn.AdaptiveAvgPool2d(1);
    private readonly Linear fc = nn.Linear(8, 5);

    public ConcatSideReadNet() : base(nameof(ConcatSideReadNet)) => RegisterComponents();

    public override Tensor forward(Tensor x)
    {
        var a = convA.call(x).relu();
        var y = (torch.cat([a, convB.call(x)], 1) + shortcut.call(x)).relu();
        var z = gap.call((conv.call(y) + side.call(a)).relu());
        return fc.call(z.view(z.shape[0], -1));
    }
}

/// <summary>
/// Norms that follow channels: conv 3→8 → GroupNorm(4, 8) → ReLU → conv 8→8 → flatten(2) and transpose to [N, HW, C] →
/// Linear 8→12 → LayerNorm(12) → ReLU → Linear 12→4.
/// </summary>
internal sealed class NormFollowersNet : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1 = nn.Conv2d(3, 8, 3, padding: 1), conv2 = nn.Conv2d(8, 8, 1);
    private readonly GroupNorm groupNorm = nn.GroupNorm(4, 8);
    private readonly Linear embed = nn.Linear(8, 12), head = nn.Linear(12, 4);
    private readonly LayerNorm layerNorm = nn.LayerNorm(12);
    private readonly ReLU relu = nn.ReLU();

    public NormFollowersNet() : base(nameof(NormFollowersNet))
    {
        // TorchSharp 0.107's GroupNorm leaves its affine parameters uninitialised (PyTorch sets 1 and 0).
        using (torch.no_grad())
        {
            groupNorm.weight!.fill_(1);
            groupNorm.bias!.zero_();
        }
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var y = conv2.call(relu.call(groupNorm.call(conv1.call(x))));
        var tokens = y.flatten(2).transpose(1, 2);
        return head.call(relu.call(layerNorm.call(embed.call(tokens))));
    }
}

/// <summary>conv 3→16 → PixelShuffle(2) (16 channels at 4x4 become 4 channels at 8x8) → conv 4→2.</summary>
internal sealed class PixelShuffleNet : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1 = nn.Conv2d(3, 16, 3, padding: 1), conv2 = nn.Conv2d(4, 2, 1);
    private readonly PixelShuffle shuffle = nn.PixelShuffle(2);

    public PixelShuffleNet() : base(nameof(PixelShuffleNet)) => RegisterComponents();

    public override Tensor forward(Tensor x) => conv2.call(shuffle.call(conv1.call(x)));
}
