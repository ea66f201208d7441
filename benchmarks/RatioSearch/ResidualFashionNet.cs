using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Benchmarks.RatioSearch;

/// <summary>
/// A deeper residual CNN for 1×28×28 Fashion-MNIST: stem conv 3×3 (1→w) BN ReLU and 2×2 max pool (to 14×14, as resnet's
/// stem pools), three stages of two basic blocks (w, 2w stride 2, 4w stride 2), global average pool, fc 4w→10. resnet18's coupling in small: every block output of a
/// stage is added to the stage's input, so the stem (or the stage's 1×1 downsample) and the blocks' second convs form one
/// channel group.
/// </summary>
internal sealed class ResidualFashionNet : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> stem;
    private readonly BatchNorm2d stemBn;
    private readonly MaxPool2d stemPool = nn.MaxPool2d(2);
    private readonly Sequential stages;
    private readonly AdaptiveAvgPool2d pool = nn.AdaptiveAvgPool2d(1);
    private readonly Flatten flatten = nn.Flatten();
    private readonly nn.Module<Tensor, Tensor> fc;

    /// <summary>The first stage's channels unless told otherwise.</summary>
    public const int DefaultWidth = 32;

    /// <summary>Creates the network with PyTorch's default initialisation; <paramref name="width"/> is the first stage's channels.</summary>
    public ResidualFashionNet(int width = DefaultWidth, int classes = 10) : base(nameof(ResidualFashionNet))
    {
        stem = nn.Conv2d(1, width, 3, padding: 1, bias: false);
        stemBn = nn.BatchNorm2d(width);
        stages = nn.Sequential(
            ("layer1_0", new BasicBlock(width, width, 1)), ("layer1_1", new BasicBlock(width, width, 1)),
            ("layer2_0", new BasicBlock(width, 2 * width, 2)), ("layer2_1", new BasicBlock(2 * width, 2 * width, 1)),
            ("layer3_0", new BasicBlock(2 * width, 4 * width, 2)), ("layer3_1", new BasicBlock(4 * width, 4 * width, 1)));
        fc = nn.Linear(4 * width, classes);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        // No dispose scope of its own: the caller's step scope frees the intermediates, and tensors the graph's hooks make
        // must outlive the call.
        var x = stemPool.call(stemBn.call(stem.call(input)).relu_());
        return fc.call(flatten.call(pool.call(stages.call(x))));
    }

    /// <summary>conv 3×3 (stride s) BN ReLU, conv 3×3 BN, plus the input (or its strided 1×1 conv + BN when the shape
    /// changes), then ReLU: torchvision's BasicBlock.</summary>
    private sealed class BasicBlock : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> conv1, conv2;
        private readonly BatchNorm2d bn1, bn2;
        private readonly Sequential? downsample;

        public BasicBlock(int cin, int cout, int stride) : base(nameof(BasicBlock))
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
            var y = bn2.call(conv2.call(bn1.call(conv1.call(x)).relu_()));
            var identity = downsample is null ? x : downsample.call(x);
            // Out of place: the graph's NaN markers and autograd both need y and identity as they are.
            return (y + identity).relu_();
        }
    }
}
