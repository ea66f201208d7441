using TorchSharp;
using Trainer.Core.Compression;
using Trainer.Core.Models;

namespace Trainer.Core.Tests.Compression;

/// <summary>Building throwaway copies of a model leaves torch's global generator where it was, so a resumed run that skips
/// such work (a replayed allocation) draws the numbers an unbroken run draws.</summary>
public sealed class CopyRandomStateTests
{
    [Fact]
    public void A_model_copy_does_not_move_the_global_random_generator()
    {
        using var source = new FashionCnn();
        torch.manual_seed(42);
        using var expected = torch.rand(8);
        torch.manual_seed(42);

        using (ModelCopy.Create(() => new FashionCnn(), [1, 1, 28, 28], [], source)) { }
        using var drawn = torch.rand(8);

        Assert.Equal(expected.data<float>().ToArray(), drawn.data<float>().ToArray());
    }
}
