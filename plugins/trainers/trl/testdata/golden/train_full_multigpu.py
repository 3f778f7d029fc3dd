#!/usr/bin/env python3
# Rendered by polyglot's trl trainer: supervised finetuning with TRL, full.
# Written for trl 1.9.0, transformers 5.x, peft 0.20.0.
# Every setting is read from the JSON config given as the first argument:
# edit that, not this script.
import json
import os
import sys
import time

NO_GPU = 'no GPU: the trl trainer needs CUDA; use trainer = "cpu" or run on a GPU node via executor "slurm"'


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    h = cfg["hyper"]

    import torch

    if not torch.cuda.is_available():
        sys.exit(NO_GPU)
    # Under accelerate launch each process trains on its own GPU, and a
    # quantized model must be loaded whole onto that device.
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local_rank)
    device_map = {"": local_rank}
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    started = time.time()
    dataset = load_dataset("json", data_files=cfg["dataset"], split="train")
    tokenizer = AutoTokenizer.from_pretrained(cfg["base_model"])
    model = AutoModelForCausalLM.from_pretrained(cfg["base_model"], dtype=torch.bfloat16, device_map=device_map)
    peft_config = None

    # Base models often ship without a chat template; the data is chat-format.
    tokenizer.chat_template = cfg["chat_template"] or tokenizer.chat_template or cfg["fallback_chat_template"]
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token

    args = SFTConfig(
        output_dir=cfg["output_dir"],
        num_train_epochs=h["epochs"],
        learning_rate=h["learning_rate"],
        weight_decay=h["weight_decay"],
        lr_scheduler_type=h["lr_scheduler"],
        optim=h["optimizer"],
        # transformers 5 reads a warmup_steps below 1 as a share of all steps.
        warmup_steps=cfg["warmup_steps"],
        per_device_train_batch_size=h["batch_size"],
        gradient_accumulation_steps=h["gradient_accumulation_steps"],
        max_length=h["max_length"],
        packing=h["packing"],
        # Loss on the whole chat-formatted text, as the study trained.
        completion_only_loss=False,
        assistant_only_loss=False,
        seed=h["seed"],
        bf16=True,
        gradient_checkpointing=True,
        logging_steps=10,
        save_strategy="no",
        report_to="none",
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    result = trainer.train()
    trainer.save_model(cfg["output_dir"])
    tokenizer.save_pretrained(cfg["output_dir"])
    if not trainer.accelerator.is_main_process:
        return

    model_dir = cfg["output_dir"]

    summary = {
        "model_dir": model_dir,
        "base_model": cfg["base_model"],
        "method": h["method"],
        "examples": len(dataset),
        "train_loss": result.training_loss,
        "train_seconds": time.time() - started,
    }
    with open(os.path.join(cfg["output_dir"], "polyglot_train.json"), "w") as f:
        json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
