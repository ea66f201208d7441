using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Core.Data;
using Trainer.Core.Data.Images;

namespace Trainer.Core.Tests.Data.Images;

/// <summary>The image folder's layout (classes, validation and test folders, a seeded split) and each bad folder one error.</summary>
public sealed class ImageFolderTests : IDisposable
{
    private readonly ImageFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void Train_and_val_folders_give_sorted_classes_and_test_is_the_test_split()
    {
        _files.ColourClasses("train", 3);
        _files.ColourClasses("val", 2);
        _files.ColourClasses("test", 1);
        File.WriteAllText(_files.PathOf("train/red/readme.txt"), "ignored");

        var (train, validation, test, classes) = ImageFolderLayout.Find(_files.Root, 0.5, 0);

        Assert.Equal(["blue", "green", "red"], classes);
        Assert.Equal([0L, 0, 0, 1, 1, 1, 2, 2, 2], train.Labels);
        Assert.Equal(_files.PathOf("train/blue/000.png"), train.Files[0]);
        Assert.Equal(6, validation.Files.Count);
        Assert.Equal(3, test!.Files.Count);
    }

    [Fact]
    public void Without_a_val_folder_test_validates_and_without_either_a_seeded_share_of_the_images_does()
    {
        _files.ColourClasses("a/train", 2);
        _files.ColourClasses("a/test", 1);
        var (_, validation, test, _) = ImageFolderLayout.Find(_files.PathOf("a"), 0.5, 0);
        Assert.Equal("validation", validation.Name);
        Assert.Equal(3, validation.Files.Count);
        Assert.Null(test);

        _files.ColourClasses("flat", 4);
        var (train, held, none, classes) = ImageFolderLayout.Find(_files.PathOf("flat"), 0.25, 5);
        Assert.Equal((9, 3), (train.Files.Count, held.Files.Count));
        Assert.Null(none);
        Assert.Equal(12, train.Files.Concat(held.Files).Distinct().Count());
        Assert.Equal(held.Files, ImageFolderLayout.Find(_files.PathOf("flat"), 0.25, 5).Validation.Files);
        Assert.NotEqual(held.Files, ImageFolderLayout.Find(_files.PathOf("flat"), 0.25, 6).Validation.Files);
        Assert.Equal(["blue", "green", "red"], classes);
    }

    [Fact]
    public void A_class_folder_without_images_an_unknown_validation_class_and_a_missing_folder_are_named()
    {
        _files.ColourClasses("x/train", 2);
        Directory.CreateDirectory(_files.PathOf("x/train/yellow"));
        File.WriteAllText(_files.PathOf("x/train/yellow/notes.txt"), "no images here");
        var e = Assert.Throws<InvalidDataException>(() => ImageFolderLayout.Find(_files.PathOf("x"), 0.5, 0));
        Assert.Contains($"The class folder '{_files.PathOf("x/train/yellow")}' has no images (.png, .jpg, .jpeg)", e.Message);

        _files.ColourClasses("y/train", 2);
        _files.ColourClasses("y/val", 1);
        _files.Solid("y/val/purple/0.png", 8, 8, 1, 2, 3);
        e = Assert.Throws<InvalidDataException>(() => ImageFolderLayout.Find(_files.PathOf("y"), 0.5, 0));
        Assert.Contains("has class folder(s) 'purple' that the training images do not have; the training classes are blue, green, red", e.Message);

        var missing = Assert.Throws<DatasetNotFoundException>(() => ImageFolderLayout.Find(_files.PathOf("nowhere"), 0.5, 0));
        Assert.Contains("does not exist", missing.Message);
        Directory.CreateDirectory(_files.PathOf("empty"));
        missing = Assert.Throws<DatasetNotFoundException>(() => ImageFolderLayout.Find(_files.PathOf("empty"), 0.5, 0));
        Assert.Contains("has no class folders", missing.Message);
    }

    [Fact]
    public void Mixed_channel_counts_are_one_error_saying_which_and_how_to_convert_and_channels_converts_them()
    {
        _files.ColourClasses("m", 2);
        var grey = _files.Write("m/red/grey.png", 8, 8, 1, (x, y, _) => (byte)(x * y));
        var options = new ImageFolderOptions(DecodeThreads: 2);

        var e = Assert.Throws<InvalidDataException>(() => ImageFolderReader.Read(_files.PathOf("m"), options, 0.3, 0, NullLogger.Instance));
        Assert.Contains("The images have mixed channel counts: 6 RGB (3 channels)", e.Message);
        Assert.Contains($"1 greyscale (1 channel), e.g. '{grey}'", e.Message);
        Assert.Contains("Set Task:Settings:channels=3", e.Message);
        Assert.Contains("mogrify -type TrueColor", e.Message);

        var (train, validation, _, _) = ImageFolderReader.Read(_files.PathOf("m"), options with { Channels = 3 }, 0.3, 0, NullLogger.Instance);
        using (train)
        using (validation)
            Assert.Equal([3, 8, 8], train.ImageShape);
    }

    [Fact]
    public void Mixed_sizes_need_an_image_size_and_with_one_every_image_is_brought_to_it()
    {
        _files.ColourClasses("s", 2);
        _files.Solid("s/blue/big.png", 20, 10, 0, 0, 200);
        var e = Assert.Throws<InvalidDataException>(() => ImageFolderReader.Read(_files.PathOf("s"), new ImageFolderOptions(), 0.3, 0, NullLogger.Instance));
        Assert.Contains("The images differ in size: 6 of 8×8 (width×height)", e.Message);
        Assert.Contains("Set Task:Settings:image_size", e.Message);

        var (train, validation, _, _) = ImageFolderReader.Read(_files.PathOf("s"), new ImageFolderOptions(Height: 6, Width: 5, Loading: ImageLoading.Memory), 0.3, 0, NullLogger.Instance);
        using (validation)
        using (train)
        {
            var memory = Assert.IsType<InMemoryImages>(train);
            Assert.Equal([memory.Count, 3, 6, 5], memory.Pixels.shape);
        }
    }
}
