using Trainer.Core.Inference;
using Trainer.Core.Models;
using Trainer.Core.Tests.Fuzz;

namespace Trainer.Core.Tests.Inference;

/// <summary>The per-machine cache of the layout an export chose by timing.</summary>
public sealed class LayoutChoiceCacheTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "trainer-layout-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void A_cached_choice_is_found_again_for_the_same_model_shape_and_not_for_another()
    {
        var logger = new RecordingLogger();
        using var model = ModelCatalog.Get("fashion-cnn").Create();
        var path = LayoutChoiceCache.PathFor(_dir, model, [1, 1, 28, 28]);
        LayoutChoiceCache.Save(path, MemoryLayout.ChannelsLast, logger);

        using var same = ModelCatalog.Get("fashion-cnn").Create();
        Assert.Equal(path, LayoutChoiceCache.PathFor(_dir, same, [1, 1, 28, 28]));
        Assert.Equal(MemoryLayout.ChannelsLast, LayoutChoiceCache.TryLoad(path, logger));
        using var other = ModelCatalog.Get("mobilenet_v3_small").Create();
        Assert.NotEqual(path, LayoutChoiceCache.PathFor(_dir, other, [1, 3, 64, 64]));   // other layers, another key
        Assert.Empty(logger.Warnings);
    }

    [Theory]
    [InlineData("Fastest")]
    [InlineData("")]
    [InlineData("\u0000\u0001garbage")]
    public void A_damaged_choice_is_a_warning_and_the_layouts_are_timed_again(string text)
    {
        var logger = new RecordingLogger();
        Directory.CreateDirectory(_dir);
        var path = Path.Combine(_dir, "layout-x.txt");
        File.WriteAllText(path, text);

        Assert.Null(LayoutChoiceCache.TryLoad(path, logger));
        Assert.Contains(logger.Warnings, w => w.Contains(path) && w.Contains("timing the layouts again"));
    }

    [Fact]
    public void No_cache_file_is_no_choice_without_a_warning()
    {
        var logger = new RecordingLogger();
        Assert.Null(LayoutChoiceCache.TryLoad(Path.Combine(_dir, "layout-none.txt"), logger));
        Assert.Empty(logger.Warnings);
    }
}
