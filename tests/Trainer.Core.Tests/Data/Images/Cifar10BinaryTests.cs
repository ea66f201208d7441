using Trainer.Core.Data;
using Trainer.Core.Data.Images;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Data.Images;

/// <summary>CIFAR-10's binary batches: records read in file order into [N, 3, 32, 32] planes, and every bad file one error naming it.</summary>
public sealed class Cifar10BinaryTests
{
    [Fact]
    public void Training_files_are_read_in_batch_number_order_with_labels_and_channel_planes_as_written()
    {
        using var files = new Cifar10Files();
        files.Write("data_batch_10.bin", 1, 9, labelOffset: 3);   // numbered, not sorted as text: 10 comes after 2
        files.Write("data_batch_2.bin", 3, 6);
        files.Write("data_batch_1.bin", 6, 0);
        files.Write("test_batch.bin", 2, 50);

        var (train, test) = Cifar10Binary.Locate(files.Directory);
        Assert.Equal(["data_batch_1.bin", "data_batch_2.bin", "data_batch_10.bin"], train.Select(Path.GetFileName));
        using var images = Cifar10Binary.Read(train);

        Assert.Equal([10, 3, 32, 32], images.Pixels.shape);
        Assert.Equal([0L, 1, 2, 3, 4, 5, 0, 1, 2, 3], images.Labels.data<long>().ToArray());
        var pixels = images.Pixels.data<byte>().ToArray();
        foreach (var (image, c, y, x) in new[] { (0, 0, 0, 0), (3, 1, 5, 30), (7, 2, 31, 31), (9, 2, 17, 4) })
            Assert.Equal(Cifar10Files.Pixel(image, c, y, x), pixels[((image * 3 + c) * 32 + y) * 32 + x]);
        Assert.EndsWith("test_batch.bin", test);
    }

    [Fact]
    public void Data_path_may_name_the_folder_holding_cifar_10_batches_bin()
    {
        using var files = Cifar10Files.Standard(subfolder: Cifar10Binary.ArchiveFolder);
        var (train, test) = Cifar10Binary.Locate(files.Root);
        Assert.Equal(2, train.Length);
        Assert.Equal(Path.Combine(files.Directory, "test_batch.bin"), test);
    }

    [Fact]
    public void A_file_of_the_wrong_length_is_named_with_its_length_and_the_record_size()
    {
        using var files = Cifar10Files.Standard();
        var path = Path.Combine(files.Directory, "data_batch_2.bin");
        File.WriteAllBytes(path, File.ReadAllBytes(path)[..(2 * Cifar10Files.RecordBytes + 100)]);

        var e = Assert.Throws<InvalidDataException>(() => Cifar10Binary.Read(Cifar10Binary.Locate(files.Directory).TrainFiles));
        Assert.Contains($"'{path}' is {2 * 3073 + 100} bytes", e.Message);
        Assert.Contains("not a whole number of 3073-byte CIFAR-10 records", e.Message);
        Assert.Contains("2 records and 100 bytes over", e.Message);
    }

    [Fact]
    public void An_empty_file_and_a_label_above_9_are_named()
    {
        using var files = Cifar10Files.Standard();
        var empty = Path.Combine(files.Directory, "data_batch_1.bin");
        File.WriteAllBytes(empty, []);
        var e = Assert.Throws<InvalidDataException>(() => Cifar10Binary.Read([empty]));
        Assert.Contains($"'{empty}' is empty", e.Message);

        var test = Path.Combine(files.Directory, "test_batch.bin");
        var bytes = File.ReadAllBytes(test);
        bytes[3 * Cifar10Files.RecordBytes] = 10;
        File.WriteAllBytes(test, bytes);
        e = Assert.Throws<InvalidDataException>(() => Cifar10Binary.Read([test]));
        Assert.Contains($"'{test}': record 3 has label 10", e.Message);
    }

    [Fact]
    public void A_folder_without_training_files_or_without_test_batch_says_what_it_needs()
    {
        using var files = new Cifar10Files();
        var e = Assert.Throws<DatasetNotFoundException>(() => Cifar10Binary.Locate(files.Directory));
        Assert.Contains("No CIFAR-10 training file (data_batch_1.bin ... data_batch_5.bin)", e.Message);
        Assert.Equal("Data:Path", e.ConfigKey);

        files.Write("data_batch_1.bin", 2, 0);
        e = Assert.Throws<DatasetNotFoundException>(() => Cifar10Binary.Locate(files.Directory));
        Assert.Contains("not test_batch.bin, the validation split", e.Message);

        e = Assert.Throws<DatasetNotFoundException>(() => Cifar10Binary.Locate(Path.Combine(files.Directory, "nowhere")));
        Assert.Contains("does not exist", e.Message);
    }
}
