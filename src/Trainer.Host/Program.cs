using TorchSharp;
Console.WriteLine($"torch ok {torch.ones(2).sum().item<float>()}");
